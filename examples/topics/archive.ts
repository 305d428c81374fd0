/*
 * Service 5: the archive keeps every line.
 *
 * GET /logs → the log lines it received, with their routing key (JSON array)
 *
 * Its durable queue `all_logs` is bound to `topic_logs` with `#`: zero or
 * more words, which is every routing key, the empty one included.
 */
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import type { LogLine, ReceivedLine } from './emitter'

run(async () => {
  const app = Fastify({ logger })
  const received: ReceivedLine[] = []

  await app.register(warren, { url: AMQP_URL, exchanges: { topic_logs: 'topic' }, asyncapi: true })

  app.amqp.consume<LogLine>('#', async (msg) => {
    received.push({ key: msg.routingKey, ...msg.body })
    if (received.length > 1000) received.shift()
    app.log.info({ id: msg.body.id, key: msg.routingKey }, 'received')
  }, { exchange: 'topic_logs', queue: 'all_logs' })

  app.get('/logs', async () => received)

  await serve(app, 3004)
})
