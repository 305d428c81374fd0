/*
 * Service 1: announces events on the `events` fanout exchange.
 *
 * POST /events { "type": "...", "data": {...} } → 202 { published: true, id }
 *
 * A fanout exchange copies every message to every queue bound to it and
 * ignores the routing key. The publisher does not know who listens, and an
 * event with no subscriber at all is not an error: it is published with
 * `mandatory: false`, so the broker drops it quietly instead of returning it.
 */
import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'

/** What goes out on the `events` exchange. */
export interface Event {
  id: string
  type: string
  data: Record<string, unknown>
  /** ISO timestamp of when the publisher accepted it. */
  at: string
}

run(async () => {
  const app = Fastify({ logger })

  // Every service declares the exchange, so whichever starts first can use it.
  await app.register(warren, { url: AMQP_URL, exchanges: { events: 'fanout' }, asyncapi: true })

  app.post<{ Body: { type: string, data?: Record<string, unknown> } }>('/events', {
    schema: {
      body: {
        type: 'object',
        required: ['type'],
        properties: {
          type: { type: 'string', minLength: 1 },
          data: { type: 'object' }
        }
      }
    }
  }, async (request, reply) => {
    const event: Event = { id: randomUUID(), type: request.body.type, data: request.body.data ?? {}, at: new Date().toISOString() }
    // Still confirmed: the reply waits until the broker has taken the event
    // (and written it to every durable queue it went to).
    await app.amqp.publish('', event, { exchange: 'events', mandatory: false, messageId: event.id })
    return reply.code(202).send({ published: true, id: event.id })
  })

  await serve(app, 3000)
})
