/*
 * Service 2: consumes the `process` queue, processes each job, keeps the
 * results in memory and serves them over HTTP.
 *
 * GET /processed        → every processed item (JSON array)
 * GET /processed?id=... → only the item with that id ([] until it is processed)
 *
 * The consumer is registered inside an encapsulated plugin (`processing`):
 * it starts when the app is ready and is drained when the app closes.
 */
import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import warren from 'fastify-warren'
import type { Job } from './service1'

/** A job after processing. */
export interface ProcessedItem extends Job {
  upper: string
  wordCount: number
  /** ISO timestamp of when service 2 processed the job. */
  processedAt: string
}

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'
const PORT = Number(process.env.PORT2 ?? process.env.PORT ?? 3001)
const HOST = process.env.HOST ?? '127.0.0.1'

/** An in-memory store. Delivery is at-least-once, so an item is stored once per id. */
function createStore (limit = 1000) {
  const items: ProcessedItem[] = []
  return {
    add (item: ProcessedItem): void {
      const i = items.findIndex((x) => x.id === item.id)
      if (i !== -1) items.splice(i, 1)
      items.push(item)
      if (items.length > limit) items.shift()
    },
    list (id?: string): ProcessedItem[] {
      return id === undefined ? [...items] : items.filter((x) => x.id === id)
    }
  }
}

function processJob (job: Job): ProcessedItem {
  return {
    ...job,
    upper: job.text.toUpperCase(),
    wordCount: job.text.split(/\s+/).filter(Boolean).length,
    processedAt: new Date().toISOString()
  }
}

async function main (): Promise<void> {
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } })
  const store = createStore()

  await app.register(warren, { url: AMQP_URL, exchange: process.env.WARREN_EXCHANGE || undefined })

  app.register(async function processing (app) {
    // The queue defaults to the routing key ('process'), shared by every instance
    // of this service; WARREN_QUEUE lets tests use a queue of their own.
    const queue = process.env.WARREN_QUEUE || undefined
    app.amqp.consume<Job>('process', async (msg) => {
      const job = msg.body
      if (typeof job?.id !== 'string' || typeof job.text !== 'string') {
        // Retrying cannot fix a malformed message: log it and let it be acked.
        app.log.warn({ messageId: msg.properties.messageId }, 'malformed job dropped')
        return
      }
      const item = processJob(job)
      store.add(item)
      app.log.info({ id: item.id, wordCount: item.wordCount }, 'processed')
    }, { queue })
  })

  app.get<{ Querystring: { id?: string } }>('/processed', {
    schema: {
      querystring: {
        type: 'object',
        properties: { id: { type: 'string' } }
      }
    }
  }, async (request) => store.list(request.query.id))

  // SIGINT/SIGTERM: close the app (consumers drain first), then exit. close-with-grace exits 0 when done,
  // 1 on a second signal or after `delay`, which outlasts the plugin's closeTimeout (30 s).
  closeWithGrace({ delay: 35_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal }, 'closing')
    await app.close()
  })
  await app.listen({ port: PORT, host: HOST })
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
