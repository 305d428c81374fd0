/*
 * Service 2: the alerts service; it wants errors only.
 *
 * GET /logs → the log lines it received, with their severity (JSON array)
 *
 * Its durable queue `alerts` is bound to `direct_logs` with the key `error`.
 * The binding outlives the process: errors published while the service is
 * down wait in the queue.
 */
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import type { LogLine } from './emitter'

run(async () => {
  const app = Fastify({ logger })
  const received: Array<LogLine & { severity: string }> = []

  await app.register(warren, { url: AMQP_URL, exchanges: { direct_logs: 'direct' }, asyncapi: true })

  app.amqp.consume<LogLine>('error', async (msg) => {
    received.push({ severity: msg.routingKey, ...msg.body })
    if (received.length > 1000) received.shift()
    app.log.info({ id: msg.body.id }, 'alert raised')
  }, { exchange: 'direct_logs', queue: 'alerts' })

  app.get('/logs', async () => received)

  await serve(app, 3001)
})
