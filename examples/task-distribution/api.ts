/*
 * Service 1, the API: accepts jobs and, later, reads their results.
 *
 * POST /jobs { "text": "..." } → 202 { jobId }
 * GET /jobs/:jobId             → 200 { jobId, status: 'done', result, worker, redelivered, finishedAt }
 *                              → 404 { jobId, status: 'pending' } while no result is recorded
 *
 * The API only publishes: the result never comes back to it through the
 * broker. The worker that does a job records the result in PostgreSQL, and
 * GET /jobs/:jobId reads it from there. The API keeps no list of the jobs it
 * accepted, so it cannot tell a job still in the queue from an id it never
 * issued: both are "no result yet", 404 with status 'pending'.
 */
import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import pg from 'pg'
import { AMQP_URL, logger, run, serve } from '../common/service'

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** What the API publishes on the `jobs` routing key. */
export interface Job {
  jobId: string
  text: string
  /** ISO timestamp of when the API accepted the job. */
  receivedAt: string
}

run(async () => {
  const app = Fastify({ logger })
  const pool = new pg.Pool({ connectionString: DATABASE_URL })
  pool.on('error', (err) => app.log.error({ err }, 'postgres connection lost'))
  app.addHook('onClose', () => pool.end())

  await app.register(warren, { url: AMQP_URL, asyncapi: true })

  app.post<{ Body: { text: string } }>('/jobs', {
    schema: {
      body: {
        type: 'object',
        required: ['text'],
        properties: { text: { type: 'string', minLength: 1, maxLength: 100000 } }
      }
    }
  }, async (request, reply) => {
    const job: Job = { jobId: randomUUID(), text: request.body.text, receivedAt: new Date().toISOString() }
    // Persistent and confirmed (the defaults): once this resolves, the job is
    // safe in the durable `jobs` queue, whether or not a worker is running.
    await app.amqp.publish<Job>('jobs', job, { messageId: job.jobId })
    request.log.info({ jobId: job.jobId }, 'job queued')
    return reply.code(202).send({ jobId: job.jobId })
  })

  app.get<{ Params: { jobId: string } }>('/jobs/:jobId', {
    schema: {
      params: {
        type: 'object',
        properties: { jobId: { type: 'string', format: 'uuid' } }
      }
    }
  }, async (request, reply) => {
    const { jobId } = request.params
    const { rows } = await pool.query(
      'SELECT result, worker, redelivered, finished_at FROM job_results WHERE job_id = $1', [jobId]
    ).catch((err) => {
      // 42P01, undefined table: no worker has run yet to create it, so nothing is done.
      if (err.code === '42P01') return { rows: [] }
      throw err
    })
    if (rows.length === 0) return reply.code(404).send({ jobId, status: 'pending' })
    const [row] = rows
    return { jobId, status: 'done', result: row.result, worker: row.worker, redelivered: row.redelivered, finishedAt: row.finished_at }
  })

  await serve(app, 3000)
})
