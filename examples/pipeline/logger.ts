/*
 * Service 5, the logger: the end of the pipeline. Consumes pipeline.done and
 * keeps every finished message with its whole history, by correlation id.
 *
 * GET /messages     → the finished messages, in the order they finished
 * GET /messages/:id → one of them by its id (the correlation id); 404 until it has finished
 * GET /asyncapi.json, GET /asyncapi → this service's AsyncAPI document, and a page showing it
 *
 * It consumes the `pipelineDone` definition (contracts.ts): a message that
 * fails its JSON Schema goes to `pipeline.done.dlq` with the reason `invalid`.
 */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import { pipelineDone, type Message } from './contracts'

/** A message that went through the whole pipeline. */
interface Finished extends Message {
  /** The correlation id it arrived with: the entry's id, carried by every stage. */
  correlationId: string
}

run(async () => {
  // The json-schema-to-ts type provider types msg.body from the definition's JSON Schema.
  const app = Fastify({ logger }).withTypeProvider<JsonSchemaToTsProvider>()
  // A Map keeps the order in which keys were first set: the order of finishing.
  const finished = new Map<string, Finished>()

  await app.register(warren, { url: AMQP_URL, connectionName: 'logger', asyncapi: true })

  // No `next`: the journey ends here; the message is acked once this returns.
  app.amqp.consume(pipelineDone, async (msg) => {
    // A message from another client may carry neither id: it is kept under "unknown".
    const correlationId = msg.properties.correlationId ?? msg.properties.messageId ?? 'unknown'
    const history = [...msg.body.history, { stage: 'logger' as const, at: new Date().toISOString() }]
    // Delivery is at least once (a stage that dies between publishing and
    // acking runs again), so a repeat replaces the record instead of adding one.
    finished.set(correlationId, { ...msg.body, correlationId, history })
    if (finished.size > 1000) finished.delete(finished.keys().next().value!)
    app.log.info({ correlationId, stages: history.map((h) => h.stage).join(' → ') }, 'message finished')
  })

  app.get('/messages', async () => [...finished.values()])

  app.get<{ Params: { id: string } }>('/messages/:id', async (request, reply) => {
    const message = finished.get(request.params.id)
    if (!message) return reply.code(404).send({ id: request.params.id, finished: false })
    return message
  })

  await serve(app, 3004)
})
