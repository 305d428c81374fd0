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
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import type { Job } from './service1'

/** A job after processing. */
export interface ProcessedItem extends Job {
  upper: string
  wordCount: number
  /** ISO timestamp of when service 2 processed the job. */
  processedAt: string
}

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

run(async () => {
  const app = Fastify({ logger })
  const store = createStore()

  await app.register(warren, { url: AMQP_URL })

  app.register(async function processing (app) {
    // The queue is named after the routing key ('process') and shared by every
    // instance of this service, so each job is processed once.
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
    })
  })

  app.get<{ Querystring: { id?: string } }>('/processed', {
    schema: {
      querystring: {
        type: 'object',
        properties: { id: { type: 'string' } }
      }
    }
  }, async (request) => store.list(request.query.id))

  await serve(app, 3001)
})
