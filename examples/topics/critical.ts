/*
 * Service 3: critical messages from any facility.
 *
 * GET /logs → the log lines it received, with their routing key (JSON array)
 *
 * Its durable queue `critical_logs` is bound to `topic_logs` with `*.critical`:
 * exactly two words, the second `critical`. So `kern.critical`,
 * `auth.critical` and `.critical` (whose first word is empty), but not
 * `critical` alone nor `kern.disk.critical`.
 */
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import type { LogLine, ReceivedLine } from './emitter'

run(async () => {
  const app = Fastify({ logger })
  const received: ReceivedLine[] = []

  await app.register(warren, { url: AMQP_URL, exchanges: { topic_logs: 'topic' }, asyncapi: true })

  app.amqp.consume<LogLine>('*.critical', async (msg) => {
    received.push({ key: msg.routingKey, ...msg.body })
    if (received.length > 1000) received.shift()
    app.log.info({ id: msg.body.id, key: msg.routingKey }, 'received')
  }, { exchange: 'topic_logs', queue: 'critical_logs' })

  app.get('/logs', async () => received)

  await serve(app, 3002)
})
