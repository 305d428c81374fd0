/*
 * Service 1, the entry: turns an HTTP request into a message for the first
 * stage of the pipeline, A.
 *
 * POST /messages { "text": "...", "delays": { "B": 2000 } } → 202 { id }
 *
 * `delays` says how long each stage works on this message, in milliseconds
 * (0 when absent): the simulated cost of the work, carried in the message so
 * that each message can take a different time at each stage.
 *
 * GET /asyncapi.json, GET /asyncapi → this service's AsyncAPI document, and a page showing it
 *
 * The message is published with the `pipelineA` definition (contracts.ts),
 * so it is checked against the message's JSON Schema before it is sent.
 */
import { randomUUID } from 'node:crypto'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import { messageSchema, pipelineA, type Message } from './contracts'

run(async () => {
  // The json-schema-to-ts type provider types the route's body and
  // app.amqp.publish() from their JSON Schemas.
  const app = Fastify({ logger }).withTypeProvider<JsonSchemaToTsProvider>()

  await app.register(warren, { url: AMQP_URL, connectionName: 'entry', publishes: [pipelineA], asyncapi: true })

  app.post('/messages', {
    schema: {
      // The message's own text and delays, from its schema.
      body: {
        type: 'object',
        required: ['text'],
        properties: { text: messageSchema.properties.text, delays: messageSchema.properties.delays }
      } as const
    }
  }, async (request, reply) => {
    const id = randomUUID()
    const message: Message = {
      id,
      text: request.body.text,
      delays: request.body.delays ?? {},
      history: [{ stage: 'entry', at: new Date().toISOString() }]
    }
    // The correlation id is set once, here; every stage passes it on with its
    // result, so the logger (or anyone tracing) can tie the hops together.
    // Persistent and mandatory (the defaults): 502 FST_AMQP_UNROUTABLE if stage A never ran.
    await app.amqp.publish(pipelineA, message, { messageId: id, correlationId: id })
    request.log.info({ id }, 'message sent down the pipeline')
    return reply.code(202).send({ id })
  })

  await serve(app, 3000)
})
