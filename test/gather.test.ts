import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { admin, build, collector, proxy, uniqueName, ON_MEMORY } from './helpers'

/**
 * Shards: one app per shard, each named by its connectionName, each with its
 * own queue bound to `key` on a shared exchange, answering with `answer`.
 */
async function shards (t: any, answers: Record<string, (body: any) => unknown>) {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t, 'sum')
  const { queues, exchanges } = await admin(t)
  exchanges.push(exchange)
  const apps: Record<string, FastifyInstance> = {}
  for (const [name, answer] of Object.entries(answers)) {
    const app = await build(t, { exchange, connectionName: name }, { ready: false })
    queues.push(`${key}.${name}`)
    app.amqp.consume(key, async (msg) => answer(msg.body), { queue: `${key}.${name}` })
    await app.ready()
    apps[name] = app
  }
  const reducer = await build(t, { exchange, connectionName: 'reducer' })
  return { reducer, key, apps }
}

const byName = (a: { from: string }, b: { from: string }) => a.from.localeCompare(b.from)

t.test('gather() resolves as soon as every named service has replied, with each reply and who sent it', async (t) => {
  const { reducer, key } = await shards(t, {
    'shard-1': (b) => b.base + 1,
    'shard-2': (b) => b.base + 2,
    'shard-3': (b) => b.base + 3
  })
  const started = Date.now()
  const result = await reducer.amqp.gather<number>(key, { base: 10 }, { timeout: 20000, expect: ['shard-1', 'shard-2', 'shard-3'] })
  t.ok(Date.now() - started < 20000, 'it did not wait for the deadline')
  t.same(result.replies.sort(byName), [{ from: 'shard-1', body: 11 }, { from: 'shard-2', body: 12 }, { from: 'shard-3', body: 13 }])
  t.same(result.failed, [])
  t.same(result.missing, [])
  t.equal(result.complete, true)
})

t.test('gather() resolves at the deadline with the partial replies and names the services that did not answer', async (t) => {
  const release = collector<boolean>(1, 30000)
  const { reducer, key } = await shards(t, {
    'shard-1': () => 1,
    'shard-2': async () => { await release.done.catch(() => {}); return 2 },
    'shard-3': () => 3
  })
  const result = await reducer.amqp.gather<number>(key, {}, { timeout: 500, expect: ['shard-1', 'shard-2', 'shard-3'] })
  release.push(true) // the late reply is dropped quietly
  t.same(result.replies.sort(byName), [{ from: 'shard-1', body: 1 }, { from: 'shard-3', body: 3 }])
  t.same(result.missing, ['shard-2'])
  t.equal(result.complete, false)
})

t.test('gather() with a count stops at that many replies', async (t) => {
  const { reducer, key } = await shards(t, { a: () => 'a', b: () => 'b', c: () => 'c' })
  const result = await reducer.amqp.gather(key, {}, { timeout: 20000, expect: 2 })
  t.equal(result.replies.length, 2)
  t.equal(result.complete, true)
  t.same(result.missing, [])
})

t.test('gather() without expect collects every reply until the deadline', async (t) => {
  const { reducer, key } = await shards(t, { a: () => 'a', b: () => 'b' })
  const result = await reducer.amqp.gather(key, {}, { timeout: 1000 })
  t.same(result.replies.sort(byName), [{ from: 'a', body: 'a' }, { from: 'b', body: 'b' }])
  t.equal(result.complete, false, 'nothing said when it would be complete')
})

t.test('a service whose handler throws is reported in failed with its remote error and counts as having answered', async (t) => {
  const { reducer, key } = await shards(t, {
    good: () => 'ok',
    bad: () => { throw Object.assign(new Error('shard data unavailable'), { code: 'E_SHARD' }) }
  })
  const result = await reducer.amqp.gather(key, {}, { timeout: 20000, expect: ['good', 'bad'] })
  t.same(result.replies, [{ from: 'good', body: 'ok' }])
  t.equal(result.failed.length, 1)
  t.equal(result.failed[0].from, 'bad')
  t.match(result.failed[0].error, { code: 'FST_AMQP_RPC_REMOTE_ERROR', message: /shard data unavailable/, remote: { code: 'E_SHARD' } })
  t.equal(result.complete, true)
})

t.test('gather() rejects with FST_AMQP_UNROUTABLE when no queue is bound to the routing key', async (t) => {
  const app = await build(t)
  await t.rejects(app.amqp.gather(uniqueName(t), {}, { timeout: 5000 }), { code: 'FST_AMQP_UNROUTABLE' })
})

t.test('gather() rejects bad options with FST_AMQP_INVALID_ARGUMENT naming them', async (t) => {
  const app = await build(t)
  for (const [options, field] of [
    [{ expect: 0 }, 'options.expect'],
    [{ expect: [] }, 'options.expect'],
    [{ expect: ['a', 'a'] }, 'options.expect'],
    [{ expect: ['a', ''] }, 'options.expect[1]'],
    [{ expect: 'a' }, 'options.expect'],
    [{ timeout: -1 }, 'options.timeout'],
    [{ expected: 2 }, 'options.expected']
  ] as const) {
    await t.rejects(app.amqp.gather('k', {}, options as any), { code: 'FST_AMQP_INVALID_ARGUMENT', message: new RegExp(`"${field.replace(/[[\]]/g, '\\$&')}"`) }, JSON.stringify(options))
  }
})

t.test('gather() rejects with FST_AMQP_RPC_TIMEOUT when the request could not even be sent by the deadline', { skip: ON_MEMORY && 'cuts a TCP connection through a proxy' }, async (t) => {
  const p = await proxy(t)
  const app = await build(t, { url: p.url, reconnectDelay: 100 })
  p.refuse()
  p.cut()
  await t.rejects(app.amqp.gather('anything', {}, { timeout: 500 }), { code: 'FST_AMQP_RPC_TIMEOUT' })
})
