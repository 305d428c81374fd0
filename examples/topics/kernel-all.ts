/*
 * Service 4: everything the kernel says, at any depth.
 *
 * GET /logs → the log lines it received, with their routing key (JSON array)
 *
 * Its durable queue `kernel_all_logs` is bound to `topic_logs` with `kern.#`:
 * the word `kern` followed by zero or more words. So `kern` alone,
 * `kern.info`, `kern.disk.critical` and `kern..critical`.
 */
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import type { LogLine, ReceivedLine } from './emitter'

run(async () => {
  const app = Fastify({ logger })
  const received: ReceivedLine[] = []

  await app.register(warren, { url: AMQP_URL, exchanges: { topic_logs: 'topic' }, asyncapi: true })

  app.amqp.consume<LogLine>('kern.#', async (msg) => {
    received.push({ key: msg.routingKey, ...msg.body })
    if (received.length > 1000) received.shift()
    app.log.info({ id: msg.body.id, key: msg.routingKey }, 'received')
  }, { exchange: 'topic_logs', queue: 'kernel_all_logs' })

  app.get('/logs', async () => received)

  await serve(app, 3003)
})
