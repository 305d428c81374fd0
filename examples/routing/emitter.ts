/*
 * Service 1: publishes log lines to the `direct_logs` exchange, with the
 * severity as the routing key.
 *
 * POST /logs { "severity": "error", "message": "..." } → 202 { published: true, id }
 *
 * A direct exchange delivers a message to the queues bound with exactly its
 * routing key. The publish is mandatory (the default): a severity no queue is
 * bound to (here `debug`) is returned by the broker, publish() rejects with
 * FST_AMQP_UNROUTABLE and Fastify answers 502 with that code.
 */
import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'

/** What goes out on `direct_logs`; the severity travels as the routing key. */
export interface LogLine {
  id: string
  message: string
  /** ISO timestamp of when the emitter accepted it. */
  at: string
}

const SEVERITIES = ['debug', 'info', 'warning', 'error'] as const

run(async () => {
  const app = Fastify({ logger })

  // Every service declares the exchange, so whichever starts first can use it.
  await app.register(warren, { url: AMQP_URL, exchanges: { direct_logs: 'direct' }, asyncapi: true })

  app.post<{ Body: { severity: typeof SEVERITIES[number], message: string } }>('/logs', {
    schema: {
      body: {
        type: 'object',
        required: ['severity', 'message'],
        properties: {
          severity: { type: 'string', enum: SEVERITIES },
          message: { type: 'string' }
        }
      }
    }
  }, async (request, reply) => {
    const line: LogLine = { id: randomUUID(), message: request.body.message, at: new Date().toISOString() }
    // Mandatory by default: if no queue is bound to this severity, this rejects
    // with FST_AMQP_UNROUTABLE and Fastify answers 502 with that code.
    await app.amqp.publish(request.body.severity, line, { exchange: 'direct_logs', messageId: line.id })
    return reply.code(202).send({ published: true, id: line.id })
  })

  await serve(app, 3000)
})
