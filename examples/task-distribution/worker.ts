/*
 * Services 2, 3, ...: a worker. Run this one file as many times as you like;
 * every instance takes jobs from the same `jobs` queue.
 *
 * For each job it computes word statistics and a SHA-256 of the text and
 * records them in PostgreSQL, in the table `job_results` (created at start if
 * missing). It returns nothing to the API: the API reads the table.
 *
 * WORKER_NAME names the instance in the results (default `worker-<pid>`).
 * WORK_MS (default 0) adds that many milliseconds to every job, standing in
 * for heavier work, so you can watch jobs being shared or kill a worker mid-job.
 */
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import pg from 'pg'
import { AMQP_URL, logger, run, serve } from '../common/service'
import type { Job } from './api'

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const WORKER_NAME = process.env.WORKER_NAME ?? `worker-${process.pid}`
const WORK_MS = Number(process.env.WORK_MS ?? 0)

/** What a worker records for a job. */
export interface JobResult {
  chars: number
  words: number
  distinctWords: number
  /** The most frequent word (lower-cased), or null for a text without words. */
  topWord: string | null
  sha256: string
}

function analyse (text: string): JobResult {
  const words = text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? []
  const counts = new Map<string, number>()
  for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1)
  let topWord: string | null = null
  for (const [w, n] of counts) if (topWord === null || n > counts.get(topWord)!) topWord = w
  return {
    chars: text.length,
    words: words.length,
    distinctWords: counts.size,
    topWord,
    sha256: createHash('sha256').update(text).digest('hex')
  }
}

run(async () => {
  if (!(WORK_MS >= 0)) throw new Error(`WORK_MS must be a number of milliseconds, got ${process.env.WORK_MS}`)
  const app = Fastify({ logger })
  const pool = new pg.Pool({ connectionString: DATABASE_URL })
  pool.on('error', (err) => app.log.error({ err }, 'postgres connection lost'))
  app.addHook('onClose', () => pool.end()) // after the consumer has drained

  await pool.query(`CREATE TABLE IF NOT EXISTS job_results (
    job_id uuid PRIMARY KEY,
    result jsonb NOT NULL,
    worker text NOT NULL,
    redelivered boolean NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now()
  )`).catch((err) => {
    // Two instances starting at the same moment can both try to create the
    // table; the loser gets a unique violation (23505), and the table exists.
    if (err.code !== '23505') throw err
  })

  await app.register(warren, { url: AMQP_URL, connectionName: WORKER_NAME, asyncapi: true })

  // Every instance consumes the durable queue `jobs`, so each job goes to one
  // of them. The ack is sent when the handler resolves, after the result is
  // committed: a worker that dies mid-job never acked it, and the broker gives
  // the job to another instance. prefetch 1: an instance gets its next job only
  // once it has finished the last one, so jobs go to whichever is free.
  app.amqp.consume<Job>('jobs', async (msg) => {
    const job = msg.body
    if (typeof job?.jobId !== 'string' || typeof job.text !== 'string') {
      // Retrying cannot fix a malformed message: log it and let it be acked.
      app.log.warn({ messageId: msg.properties.messageId }, 'malformed job dropped')
      return
    }
    app.log.info({ jobId: job.jobId, redelivered: msg.redelivered }, 'job started')
    if (WORK_MS > 0) await sleep(WORK_MS)
    const result = analyse(job.text)

    // Delivery is at least once: a worker can die after this INSERT and before
    // its ack, and the job comes again. Keyed on the job id, the second INSERT
    // does nothing, so the job is recorded once, by whoever finished it first.
    const { rowCount } = await pool.query(
      `INSERT INTO job_results (job_id, result, worker, redelivered) VALUES ($1, $2, $3, $4)
       ON CONFLICT (job_id) DO NOTHING`,
      [job.jobId, result, WORKER_NAME, msg.redelivered]
    )
    if (rowCount === 0) app.log.info({ jobId: job.jobId }, 'job already recorded; this delivery is a duplicate')
    else app.log.info({ jobId: job.jobId }, 'job recorded')
  }, { prefetch: 1 })

  await serve(app, 3001)
})
