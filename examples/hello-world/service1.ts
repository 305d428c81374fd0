/*
 * Service 1: accepts work over HTTP and queues it on RabbitMQ.
 *
 * POST /process { "text": "..." } → 202 { queued: true, id }
 *
 * The reply is sent only once the broker has confirmed the message. If no
 * queue is bound to the routing key (service 2 never ran), publish() rejects
 * with FST_AMQP_UNROUTABLE and Fastify answers 502 with that code.
 */
import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'

/** What service 1 publishes on the `process` routing key. */
export interface Job {
  id: string
  text: string
  /** ISO timestamp of when service 1 accepted the request. */
  receivedAt: string
}

run(async () => {
  const app = Fastify({ logger })

  await app.register(warren, { url: AMQP_URL })

  app.post<{ Body: { text: string } }>('/process', {
    schema: {
      body: {
        type: 'object',
        required: ['text'],
        properties: { text: { type: 'string' } }
      }
    }
  }, async (request, reply) => {
    const job: Job = { id: randomUUID(), text: request.body.text, receivedAt: new Date().toISOString() }
    // Resolves once RabbitMQ confirms; a coded error (502, 503...) escapes to Fastify otherwise.
    await app.amqp.publish('process', job, { messageId: job.id })
    request.log.info({ id: job.id }, 'queued')
    return reply.code(202).send({ queued: true, id: job.id })
  })

  await serve(app, 3000)
})
