/*
 * Service 3: the logbook; it keeps info and warning lines.
 *
 * GET /logs → the log lines it received, with their severity (JSON array)
 *
 * One durable queue, `logbook`, bound to `direct_logs` twice: with `info` and
 * with `warning`. A list of routing keys cannot name the queue by itself, so
 * the queue is named explicitly.
 */
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import type { LogLine } from './emitter'

run(async () => {
  const app = Fastify({ logger })
  const received: Array<LogLine & { severity: string }> = []

  await app.register(warren, { url: AMQP_URL, exchanges: { direct_logs: 'direct' }, asyncapi: true })

  app.amqp.consume<LogLine>(['info', 'warning'], async (msg) => {
    received.push({ severity: msg.routingKey, ...msg.body })
    if (received.length > 1000) received.shift()
    app.log.info({ id: msg.body.id, severity: msg.routingKey }, 'logged')
  }, { exchange: 'direct_logs', queue: 'logbook' })

  app.get('/logs', async () => received)

  await serve(app, 3002)
})
