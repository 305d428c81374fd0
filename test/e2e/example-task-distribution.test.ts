import { createHash, randomBytes, randomUUID } from 'node:crypto'
import amqplib from 'amqplib'
import pg from 'pg'
import t from 'tap'
import { asyncApi, http, launcher, service, vhost, waitFor, type Service } from './examples'

/*
 * The task-distribution example, run the way a user runs it: the API and
 * several instances of the worker file as real processes, each test with a
 * RabbitMQ virtual host and a PostgreSQL database of its own, observed over HTTP.
 */

const EXAMPLE = 'task-distribution'
const PG_URL = 'postgres://postgres@127.0.0.1:5432'
type TestLike = Parameters<typeof service>[0]

async function sql (database: string, text: string, values: unknown[] = []): Promise<any[]> {
  const client = new pg.Client({ connectionString: `${PG_URL}/${database}` })
  await client.connect()
  try {
    return (await client.query(text, values)).rows
  } finally {
    await client.end()
  }
}

/** Creates a database for this test (dropped after it) and returns its name. */
async function database (t: TestLike): Promise<string> {
  const name = `wt_${randomBytes(6).toString('hex')}`
  await sql('postgres', `CREATE DATABASE ${name}`)
  // FORCE: disconnects anything still connected (the services are stopped before this runs).
  t.teardown(() => sql('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  return name
}

/** A vhost and a database for this test; resolves with the services' environment and the database name. */
async function isolated (t: TestLike): Promise<{ env: Record<string, string>, db: string }> {
  const db = await database(t)
  return { env: { AMQP_URL: await vhost(t), DATABASE_URL: `${PG_URL}/${db}` }, db }
}

function worker (t: TestLike, env: Record<string, string>, name: string, workMs = '0'): Promise<Service> {
  return service(t, EXAMPLE, 'worker.ts', { ...env, WORKER_NAME: name, WORK_MS: workMs }, name)
}

async function postJob (api: Service, text: string): Promise<string> {
  const { status, json } = await http('POST', api.base + '/jobs', { text })
  if (status !== 202) throw new Error(`POST /jobs answered ${status}: ${JSON.stringify(json)}`)
  return json.jobId
}

/** Polls GET /jobs/:jobId until it answers 200; resolves with the body. */
function result (api: Service, jobId: string, context: Service[] = [], timeout = 20000): Promise<any> {
  return waitFor(`the result of job ${jobId}`, async () => {
    const { status, json } = await http('GET', `${api.base}/jobs/${jobId}`)
    return status === 200 && json
  }, timeout, () => [api, ...context].map((s) => s.output.join('')).join('\n'))
}

t.test('many jobs with two workers: every result is readable through the API, recorded once, and both workers took part', async (t) => {
  const { env, db } = await isolated(t)
  const workers = [await worker(t, env, 'w1'), await worker(t, env, 'w2')]
  const api = await service(t, EXAMPLE, 'api.ts', env)
  for (const s of [...workers, api]) await asyncApi(t, s)

  const texts = Array.from({ length: 40 }, (_, i) => `job ${i}: the quick brown fox jumps over the lazy dog, the end`)
  const ids = await Promise.all(texts.map((text) => postJob(api, text)))
  t.equal(new Set(ids).size, 40, 'each job got an id of its own')

  const results = await Promise.all(ids.map((id) => result(api, id, workers)))
  const byWorker = new Map<string, number>()
  results.forEach((r, i) => {
    byWorker.set(r.worker, (byWorker.get(r.worker) ?? 0) + 1)
    if (i !== 7) return
    t.same(r, {
      jobId: ids[7],
      status: 'done',
      result: {
        chars: texts[7].length,
        words: 13,
        distinctWords: 11,
        topWord: 'the',
        sha256: createHash('sha256').update(texts[7]).digest('hex')
      },
      worker: r.worker,
      redelivered: false,
      finishedAt: r.finishedAt
    }, 'a result holds the text\'s statistics and checksum')
    t.ok(!Number.isNaN(Date.parse(r.finishedAt)), 'finishedAt is a timestamp')
  })
  t.same([...byWorker.keys()].sort(), ['w1', 'w2'], `both workers took part (${JSON.stringify(Object.fromEntries(byWorker))})`)

  const rows = await sql(db, 'SELECT job_id::text AS id, count(*)::int AS n FROM job_results GROUP BY job_id')
  t.same(rows.map((r) => r.id).sort(), [...ids].sort(), 'the table holds exactly the posted jobs')
  t.ok(rows.every((r) => r.n === 1), 'each recorded once')
})

t.test('a job whose worker is killed with SIGKILL mid-job is redelivered and completes', async (t) => {
  const { env } = await isolated(t)
  const doomed = await worker(t, env, 'doomed', '60000')
  const api = await service(t, EXAMPLE, 'api.ts', env)

  const jobId = await postJob(api, 'a job that outlives its worker')
  // The worker logs "job started" when it takes the job (it would then work for a minute).
  await waitFor('the doomed worker to start the job', () =>
    doomed.output.join('').split('\n').some((line) => line.includes(jobId) && line.includes('job started')), 15000, () => doomed.output.join(''))
  const pending = await http('GET', `${api.base}/jobs/${jobId}`)
  t.same(pending, { status: 404, json: { jobId, status: 'pending' } }, 'no result while the job is in progress')
  await doomed.kill()

  const rescuer = await worker(t, env, 'rescuer')
  const r = await result(api, jobId, [rescuer])
  t.equal(r.worker, 'rescuer', 'another worker did it')
  t.equal(r.redelivered, true, 'as a redelivery')
})

t.test('a job posted while no worker runs waits in the queue and completes when a worker starts', async (t) => {
  const { env } = await isolated(t)
  const api = await service(t, EXAMPLE, 'api.ts', env)

  const unknown = randomUUID()
  t.same(await http('GET', `${api.base}/jobs/${unknown}`), { status: 404, json: { jobId: unknown, status: 'pending' } },
    'before any worker has created the results table, a job is pending')
  const early = await http('POST', api.base + '/jobs', { text: 'too early' })
  t.equal(early.status, 502, 'before any worker has declared the jobs queue, a job cannot be queued')
  t.equal(early.json.code, 'FST_AMQP_UNROUTABLE')

  // A worker runs once (declaring the durable queue and creating the table), then stops.
  const first = await worker(t, env, 'first')
  t.same(await first.stop(), { code: 0, signal: null }, 'the first worker exits cleanly')

  const jobId = await postJob(api, 'waiting for a worker')
  t.same(await http('GET', `${api.base}/jobs/${jobId}`), { status: 404, json: { jobId, status: 'pending' } }, 'pending while no worker runs')

  const later = await worker(t, env, 'later')
  const r = await result(api, jobId, [later])
  t.equal(r.worker, 'later')
  t.equal(r.result.words, 4)
})

t.test('a job delivered twice is recorded once: the second INSERT does nothing', async (t) => {
  const { env, db } = await isolated(t)
  const workers = [await worker(t, env, 'w1'), await worker(t, env, 'w2')]
  const api = await service(t, EXAMPLE, 'api.ts', env)

  // At-least-once delivery: the same job can arrive again (a worker died after
  // recording it, before its ack). Publish one job twice, as the API would have.
  const job = { jobId: randomUUID(), text: 'said twice', receivedAt: new Date().toISOString() }
  const conn = await amqplib.connect(env.AMQP_URL)
  try {
    const ch = await conn.createConfirmChannel()
    for (let i = 0; i < 2; i++) {
      ch.publish('warren', 'jobs', Buffer.from(JSON.stringify(job)), { persistent: true, contentType: 'application/json', messageId: job.jobId })
    }
    await ch.waitForConfirms()
  } finally {
    await conn.close()
  }

  const r = await result(api, job.jobId, workers)
  await waitFor('a worker to log the duplicate', () =>
    workers.some((w) => w.output.join('').includes('this delivery is a duplicate')), 15000, () => workers.map((w) => w.output.join('')).join('\n'))
  const rows = await sql(db, 'SELECT worker FROM job_results WHERE job_id = $1', [job.jobId])
  t.same(rows, [{ worker: r.worker }], 'one row, the one GET /jobs/:id shows')
})

t.test('bad input gets 400', async (t) => {
  const { env } = await isolated(t)
  const api = await service(t, EXAMPLE, 'api.ts', env)
  // Not { text: 42 }: Fastify's Ajv coerces scalars, so that one is accepted as "42".
  for (const body of [{}, { txt: 'hello' }, { text: '' }, { text: { nested: true } }]) {
    const { status, json } = await http('POST', api.base + '/jobs', body)
    t.equal(status, 400, `POST /jobs ${JSON.stringify(body)}`)
    t.equal(json.code, 'FST_ERR_VALIDATION')
  }
  const { status, json } = await http('GET', api.base + '/jobs/not-a-job-id')
  t.equal(status, 400, 'GET /jobs/not-a-job-id')
  t.equal(json.code, 'FST_ERR_VALIDATION')
})

t.test('npm run example:task-distribution runs two workers and the API, prints the curl commands and stops cleanly on Ctrl-C', async (t) => {
  const { env } = await isolated(t)
  // The launcher passes its environment on to the services: point them at this test's database.
  const saved = process.env.DATABASE_URL
  process.env.DATABASE_URL = env.DATABASE_URL
  t.teardown(() => {
    if (saved === undefined) delete process.env.DATABASE_URL
    else process.env.DATABASE_URL = saved
  })
  const { banner, closed, output } = await launcher(t, EXAMPLE, env.AMQP_URL)
  t.match(banner, /curl -X POST http:\/\/127\.0\.0\.1:\d+\/jobs/)
  t.match(banner, /curl http:\/\/127\.0\.0\.1:\d+\/jobs\//)
  t.same(closed, ['api', 'worker-1', 'worker-2'], 'every service drained and closed its connection')
  t.notMatch(output, /exited \(/, 'no service died')
})
