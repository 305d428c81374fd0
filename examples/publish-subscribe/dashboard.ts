/*
 * Service 3, one copy per instance: a live dashboard.
 *
 * GET /events → the events this instance saw since it started (JSON array)
 *
 * Its queue is exclusive: the broker names it, it belongs to this connection
 * and is deleted when the instance stops. So every running instance gets its
 * own copy of every event (each one's view stays complete), and nothing is
 * kept for an instance that is down.
 */
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import type { Event } from './publisher'

run(async () => {
  const app = Fastify({ logger })
  const seen: Event[] = []

  await app.register(warren, { url: AMQP_URL, exchanges: { events: 'fanout' }, asyncapi: true })

  // A fanout exchange ignores routing keys, so the binding key is ''.
  app.amqp.consume<Event>('', async (msg) => {
    seen.push(msg.body)
    if (seen.length > 1000) seen.shift()
    app.log.info({ id: msg.body.id, type: msg.body.type }, 'seen')
  }, { exchange: 'events', exclusive: true })

  app.get('/events', async () => seen)

  await serve(app, 3002)
})
