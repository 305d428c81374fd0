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
import closeWithGrace from 'close-with-grace'
import warren from 'fastify-warren'

/** What service 1 publishes on the `process` routing key. */
export interface Job {
  id: string
  text: string
  /** ISO timestamp of when service 1 accepted the request. */
  receivedAt: string
}

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'
const PORT = Number(process.env.PORT1 ?? process.env.PORT ?? 3000)
const HOST = process.env.HOST ?? '127.0.0.1'

async function main (): Promise<void> {
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } })

  // WARREN_EXCHANGE lets tests isolate runs; unset means the plugin's default ('warren').
  await app.register(warren, { url: AMQP_URL, exchange: process.env.WARREN_EXCHANGE || undefined })

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

  // SIGINT/SIGTERM: close the app (which drains AMQP), then exit. close-with-grace exits 0 when done,
  // 1 on a second signal or after `delay`, which outlasts the plugin's closeTimeout (30 s).
  closeWithGrace({ delay: 35_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal }, 'closing')
    await app.close()
  })
  // For process managers and the launcher: up once the broker connection is.
  app.get('/health', async () => ({ ok: true }))

  await app.listen({ port: PORT, host: HOST })
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
