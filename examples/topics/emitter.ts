/*
 * Service 1: publishes log lines to the `topic_logs` exchange with a dotted
 * routing key such as `kern.critical` or `kern.disk.critical`.
 *
 * POST /logs { "key": "kern.critical", "message": "..." } → 202 { published: true, id }
 *
 * A topic exchange splits the key into words at each '.' and delivers to every
 * queue with a matching binding pattern: `*` stands for exactly one word, `#`
 * for zero or more. The publish is mandatory (the default), so a key no
 * pattern matches gets 502 FST_AMQP_UNROUTABLE; once the archive (`#`) has
 * bound its queue, every key matches something.
 */
import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'

/** What goes out on `topic_logs`; the key travels as the routing key. */
export interface LogLine {
  id: string
  message: string
  /** ISO timestamp of when the emitter accepted it. */
  at: string
}

/** What each subscriber keeps and serves. */
export type ReceivedLine = LogLine & { key: string }

run(async () => {
  const app = Fastify({ logger })

  // Every service declares the exchange, so whichever starts first can use it.
  await app.register(warren, { url: AMQP_URL, exchanges: { topic_logs: 'topic' }, asyncapi: true })

  app.post<{ Body: { key: string, message: string } }>('/logs', {
    schema: {
      body: {
        type: 'object',
        required: ['key', 'message'],
        properties: {
          // ASCII words and dots, at most 255 bytes (AMQP's limit). Empty words
          // (`kern..critical`) and the empty key are valid routing keys.
          key: { type: 'string', maxLength: 255, pattern: '^[\\w.-]*$' },
          message: { type: 'string' }
        }
      }
    }
  }, async (request, reply) => {
    const line: LogLine = { id: randomUUID(), message: request.body.message, at: new Date().toISOString() }
    await app.amqp.publish(request.body.key, line, { exchange: 'topic_logs', messageId: line.id })
    return reply.code(202).send({ published: true, id: line.id })
  })

  await serve(app, 3000)
})
