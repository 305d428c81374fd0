import t from 'tap'
import { asyncApi, http, launcher, service, vhost, type Service } from './examples'

/*
 * The scatter-gather example as real processes in a virtual host of their
 * own: the shard file run three times (SHARD=1, 2, 3, each with its own
 * queue bound to `sum`) and the reducer, asked over HTTP.
 *
 * The data is 1..300 dealt out in turn, so shard 1 holds 1, 4 … 298 (sum
 * 14950), shard 2 holds 2, 5 … 299 (sum 15050), shard 3 holds 3, 6 … 300
 * (sum 15150): 100 numbers each, 45150 in all.
 */

const EXAMPLE = 'scatter-gather'
const ALL = ['shard-1', 'shard-2', 'shard-3']

function shard (t: Parameters<typeof service>[0], env: Record<string, string>, n: number): Promise<Service> {
  return service(t, EXAMPLE, 'shard.ts', { ...env, SHARD: String(n) }, `shard-${n}`)
}

async function total (reducer: Service, query = ''): Promise<{ status: number, json: any }> {
  return http('GET', `${reducer.base}/total${query}`)
}

async function status (s: Service): Promise<{ shard: string, size: number, maintenance: boolean, requests: number }> {
  return (await http('GET', s.base + '/status')).json
}

t.test('the scatter-gather example', async (t) => {
  const env = { AMQP_URL: await vhost(t) }
  const reducer = await service(t, EXAMPLE, 'reducer.ts', env)

  await t.test('the reducer answers 502 FST_AMQP_UNROUTABLE while no shard has ever bound a queue to sum', async (t) => {
    const { status, json } = await total(reducer)
    t.equal(status, 502)
    t.equal(json.code, 'FST_AMQP_UNROUTABLE')
  })

  const [shard1, shard2, shard3] = await Promise.all([1, 2, 3].map((n) => shard(t, env, n)))

  await t.test('every service serves an AsyncAPI document without errors', async (t) => {
    for (const s of [reducer, shard1, shard2, shard3]) await asyncApi(t, s)
  })

  await t.test('with all three shards up, the total is complete and correct', async (t) => {
    t.same(await total(reducer), {
      status: 200,
      json: { sum: 45150, count: 300, mean: 150.5, partial: false, answered: ALL, failed: [], missing: [] }
    })
    // 10..20 spans every shard; 299 and 300 live on shards 2 and 3, shard 1 adds nothing.
    t.match(await total(reducer, '?min=10&max=20'), { status: 200, json: { sum: 165, count: 11, mean: 15, partial: false } })
    t.match(await total(reducer, '?min=299'), { status: 200, json: { sum: 599, count: 2, partial: false, answered: ALL } })
    t.match(await total(reducer, '?min=20&max=10'), { status: 200, json: { sum: 0, count: 0, mean: null, partial: false } })
    for (const s of [shard1, shard2, shard3]) {
      t.match(await status(s), { shard: s.name, size: 100, requests: 4 }, `${s.name} got its own copy of each of the 4 requests`)
    }
  })

  await t.test('a shard whose computation fails is reported under failed, and the total is partial', async (t) => {
    t.same((await http('PUT', shard2.base + '/maintenance', { on: true })).json, { shard: 'shard-2', maintenance: true })
    const { status, json } = await total(reducer)
    t.equal(status, 200, 'a partial total is still an answer')
    t.match(json, { sum: 45150 - 15050, count: 200, partial: true, answered: ['shard-1', 'shard-3'], missing: [] })
    t.equal(json.failed.length, 1)
    t.equal(json.failed[0].shard, 'shard-2')
    t.match(json.failed[0].error, /shard-2 is under maintenance/)

    await http('PUT', shard2.base + '/maintenance', { on: false })
    t.match(await total(reducer), { status: 200, json: { sum: 45150, partial: false, failed: [] } }, 'back to complete once it is out of maintenance')
  })

  await t.test('with a shard killed (SIGKILL), the reducer answers at the deadline with the partial total and names the shard missing', async (t) => {
    await shard3.kill()
    const { status, json } = await total(reducer)
    t.equal(status, 200)
    t.same(json, { sum: 45150 - 15150, count: 200, mean: 150, partial: true, answered: ['shard-1', 'shard-2'], failed: [], missing: ['shard-3'] })
  })

  const shard3again = await shard(t, env, 3)

  await t.test('a restarted shard answers again, and the request that waited in its queue while it was down has expired unanswered', async (t) => {
    t.match(await total(reducer), { status: 200, json: { sum: 45150, partial: false, answered: ALL, missing: [] } })
    t.equal((await status(shard3again)).requests, 1, 'the restarted shard got only the new request')
  })

  await t.test('the reducer rejects a bound that is not a whole number with 400', async (t) => {
    for (const query of ['?min=ten', '?max=1.5']) {
      const { status, json } = await total(reducer, query)
      t.equal(status, 400, query)
      t.equal(json.code, 'FST_ERR_VALIDATION')
    }
  })

  await t.test('the shards exit with code 0 on SIGTERM, and then the reducer answers 503 naming every shard missing', async (t) => {
    for (const s of [shard1, shard2, shard3again]) t.same(await s.stop(), { code: 0, signal: null }, s.name)
    // Their queues are still bound, so the request goes out and waits unanswered.
    const { status, json } = await total(reducer)
    t.equal(status, 503)
    t.match(json, { error: 'no shard answered', answered: [], failed: [], missing: ALL })
    t.same(await reducer.stop(), { code: 0, signal: null }, 'the reducer exits with code 0 on SIGTERM')
  })
})

t.test('npm run example:scatter-gather runs three shards and the reducer, prints the curl commands and stops cleanly on Ctrl-C', async (t) => {
  const { banner, closed, output } = await launcher(t, EXAMPLE, await vhost(t))
  t.match(banner, /curl 'http:\/\/127\.0\.0\.1:\d+\/total'/)
  t.match(banner, /curl -X PUT http:\/\/127\.0\.0\.1:\d+\/maintenance/)
  t.same(closed, ['reducer', 'shard-1', 'shard-2', 'shard-3'], 'every service drained and closed its connection')
  t.notMatch(output, /exited \(/, 'no service died')
})
