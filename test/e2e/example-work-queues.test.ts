import t from 'tap'
import { asyncApi, http, launcher, service, vhost, waitFor, type Service } from './examples'

/*
 * The work-queues example, run the way a user runs it: a producer and one
 * worker file started as several processes, in a virtual host of their own,
 * observed over HTTP.
 */

const EXAMPLE = 'work-queues'
type TestLike = Parameters<typeof service>[0]

function worker (t: TestLike, env: Record<string, string>, name: string, slowdown = '1'): Promise<Service> {
  return service(t, EXAMPLE, 'worker.ts', { ...env, WORKER_NAME: name, SLOWDOWN: slowdown }, name)
}

/** GET /done of a worker. */
async function done (w: Service): Promise<{ worker: string, working: any, done: any[] }> {
  return (await http('GET', w.base + '/done')).json
}

async function postTasks (producer: Service, costs: number[]): Promise<string[]> {
  const { status, json } = await http('POST', producer.base + '/tasks', { costs })
  if (status !== 202) throw new Error(`POST /tasks answered ${status}: ${JSON.stringify(json)}`)
  return json.tasks.map((task: { id: string }) => task.id)
}

/** Waits until the workers together have finished `count` tasks; resolves with each one's GET /done. */
function allDone (workers: Service[], count: number, timeout = 20000) {
  return waitFor(`${count} tasks done`, async () => {
    const answers = await Promise.all(workers.map(done))
    return answers.reduce((n, a) => n + a.done.length, 0) >= count && answers
  }, timeout, () => workers.map((w) => w.output.join('')).join('\n'))
}

const sorted = (ids: string[]): string[] => [...ids].sort()

t.test('with prefetch 1 the fast worker does most of the work, and every task is done exactly once', async (t) => {
  const env = { AMQP_URL: await vhost(t) }
  const fast = await worker(t, env, 'fast')
  const slow = await worker(t, env, 'slow', '20')
  const producer = await service(t, EXAMPLE, 'producer.ts', env)
  for (const s of [fast, slow, producer]) await asyncApi(t, s)

  /*
   * 20 tasks of 100 ms: 100 ms each on the fast worker, 2 s on the slow one.
   * With prefetch 1 the broker sends a worker a task only when it is idle, so
   * the slow worker gets one task at the start, and a second one only if the
   * batch is still running 2 s later: the fast worker finishes about 18 of 20
   * in about 2 s. For the slow worker to do 6 (and the fast one fewer than 15)
   * the batch would have to last over 10 s, so each 100 ms task would have to
   * take the fast worker over 700 ms: far beyond what a busy 2-core machine adds.
   * Without prefetch 1 the broker would deal the tasks out round-robin as they
   * arrive, 10 and 10, and this test would fail.
   */
  const ids = await postTasks(producer, Array(20).fill(100))
  t.equal(new Set(ids).size, 20, 'each task got an id of its own')

  const [f, s] = await allDone([fast, slow], 20, 30000)
  t.equal(f.worker, 'fast')
  t.equal(s.worker, 'slow')
  const doneIds = [...f.done, ...s.done].map((task) => task.id)
  t.same(sorted(doneIds), sorted(ids), 'every task was done, and only once')
  t.ok(f.done.length >= 15, `the fast worker did at least 15 of 20 tasks (it did ${f.done.length})`)
  t.ok(s.done.length >= 1, 'the slow worker took part too')
  for (const task of f.done) {
    t.equal(task.cost, 100)
    t.ok(task.ms >= 90, 'a task took about its cost')
    t.ok(!Number.isNaN(Date.parse(task.startedAt)) && !Number.isNaN(Date.parse(task.finishedAt)), 'with ISO timings')
  }
})

t.test('three instances of the same worker file share the queue: each task is done once, by one of them', async (t) => {
  const env = { AMQP_URL: await vhost(t) }
  const workers = [await worker(t, env, 'w1'), await worker(t, env, 'w2'), await worker(t, env, 'w3')]
  const producer = await service(t, EXAMPLE, 'producer.ts', env)

  const ids = await postTasks(producer, Array(30).fill(20))
  const answers = await allDone(workers, 30)
  t.same(sorted(answers.flatMap((a) => a.done.map((task) => task.id))), sorted(ids), 'every task was done, and only once')
  for (const a of answers) t.ok(a.done.length > 0, `${a.worker} took part`)
})

t.test('tasks wait in the durable queue while no worker runs, and a worker started later does them all', async (t) => {
  const env = { AMQP_URL: await vhost(t) }
  const producer = await service(t, EXAMPLE, 'producer.ts', env)

  const before = await http('POST', producer.base + '/tasks', { costs: [10] })
  t.equal(before.status, 502, 'before any worker has declared task_queue, a task cannot be queued')
  t.equal(before.json.code, 'FST_AMQP_UNROUTABLE')

  // A worker runs once (declaring the durable queue), then stops.
  const first = await worker(t, env, 'first')
  t.same(await first.stop(), { code: 0, signal: null }, 'the first worker exits cleanly')

  const ids = await postTasks(producer, [10, 20, 30, 40, 50])
  const later = await worker(t, env, 'later')
  const [answer] = await allDone([later], 5)
  t.same(sorted(answer.done.map((task: { id: string }) => task.id)), sorted(ids), 'the later worker did every task posted while none ran')
})

t.test('a worker killed with SIGKILL in the middle of a task loses nothing: another worker gets the task again', async (t) => {
  const env = { AMQP_URL: await vhost(t) }
  // 500 ms of work, a hundred times slower: the doomed worker would need 50 s.
  const doomed = await worker(t, env, 'doomed', '100')
  const producer = await service(t, EXAMPLE, 'producer.ts', env)

  const [id] = await postTasks(producer, [500])
  await waitFor('the doomed worker to be working on the task', async () => (await done(doomed)).working?.id === id)
  await doomed.kill()

  // It never acked the task, so the broker puts it back in the queue for the next worker.
  const rescuer = await worker(t, env, 'rescuer')
  const [answer] = await allDone([rescuer], 1)
  t.equal(answer.done.length, 1)
  t.equal(answer.done[0].id, id, 'the task was done')
  t.equal(answer.done[0].redelivered, true, 'as a redelivery')
})

t.test('the producer rejects a body without a list of whole, non-negative costs with 400', async (t) => {
  const env = { AMQP_URL: await vhost(t) }
  const producer = await service(t, EXAMPLE, 'producer.ts', env)
  for (const body of [{}, { costs: [] }, { costs: [-1] }, { costs: [1.5] }, { costs: ['slow'] }]) {
    const { status, json } = await http('POST', producer.base + '/tasks', body)
    t.equal(status, 400, JSON.stringify(body))
    t.equal(json.code, 'FST_ERR_VALIDATION')
  }
})

t.test('npm run example:work-queues runs two workers and the producer, prints the curl commands and stops cleanly on Ctrl-C', async (t) => {
  const { banner, closed, output } = await launcher(t, EXAMPLE, await vhost(t))
  t.match(banner, /curl -X POST http:\/\/127\.0\.0\.1:\d+\/tasks/)
  t.match(banner, /curl http:\/\/127\.0\.0\.1:\d+\/done/)
  t.same(closed, ['fast-worker', 'producer', 'slow-worker'], 'every service drained and closed its connection')
  t.notMatch(output, /exited \(/, 'no service died')
})
