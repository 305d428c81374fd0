/*
 * Service 2: consumes the `process` queue, processes each job, keeps the
 * results in memory and serves them over HTTP.
 *
 * GET /processed        → every processed item (JSON array)
 * GET /processed?id=... → only the item with that id ([] until it is processed)
 *
 * The consumer is registered inside an encapsulated plugin (`processing`):
 * it starts when the app is ready and is drained when the app closes. It
 * consumes the `processJob` definition (contracts.ts): every delivery is
 * checked against its schema before the handler runs, and one that fails
 * (sent by some other client) goes to the dead-letter queue `process.dlq`
 * with the reason `invalid`, so the handler only ever sees a whole job.
 *
 * GET /asyncapi.json, GET /asyncapi → this service's AsyncAPI document, and a page showing it
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, isMain, logger, run, serve } from '../common/service'
import { processJob, type Job } from './contracts'

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

function processText (job: Job): ProcessedItem {
  return {
    ...job,
    upper: job.text.toUpperCase(),
    wordCount: job.text.split(/\s+/).filter(Boolean).length,
    processedAt: new Date().toISOString()
  }
}

/** Service 2 as an app, not yet listening: `url` is the broker (a test passes memory://<name>). */
export async function buildService2 (url = AMQP_URL, options: FastifyServerOptions = { logger }): Promise<FastifyInstance> {
  const app = Fastify(options)
  const store = createStore()

  await app.register(warren, { url, asyncapi: true })

  app.register(async function processing (app) {
    // The queue is named after the definition's routing key ('process') and
    // shared by every instance of this service, so each job is processed once.
    // msg.body is a Job: the delivery was validated before the handler ran.
    app.amqp.consume(processJob, async (msg) => {
      const item = processText(msg.body)
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

  return app
}

if (isMain(__filename)) run(async () => serve(await buildService2(), 3001))
