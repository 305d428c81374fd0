/*
 * Service 2, one copy per service: the audit log.
 *
 * GET /events → the events this instance recorded (JSON array)
 *
 * Its queue has a name, `audit.events`, and is durable: every instance of
 * the audit service consumes from the same queue, so they share (split) the
 * audit's copy of each event, and while no instance runs, events wait there.
 */
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import type { Event } from './publisher'

run(async () => {
  const app = Fastify({ logger })
  // In memory for the example; a real audit log would write to a database.
  const recorded: Event[] = []

  await app.register(warren, { url: AMQP_URL, exchanges: { events: 'fanout' }, asyncapi: true })

  // A fanout exchange ignores routing keys, so the binding key is ''.
  app.amqp.consume<Event>('', async (msg) => {
    recorded.push(msg.body)
    if (recorded.length > 1000) recorded.shift()
    app.log.info({ id: msg.body.id, type: msg.body.type }, 'recorded')
  }, { exchange: 'events', queue: 'audit.events' })

  app.get('/events', async () => recorded)

  await serve(app, 3001)
})
