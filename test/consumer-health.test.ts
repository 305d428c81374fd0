import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import { admin, build, collector, uniqueName, waitFor } from './helpers'

t.test('a handler that throws an object whose message getter throws still has its message settled: it goes to the dead-letter queue', async (t) => {
  const key = uniqueName(t)
  const { ch, queues, take } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  let runs = 0
  app.amqp.consume(key, async () => {
    runs++
    // eslint-disable-next-line no-throw-literal
    throw { get message (): string { throw new Error('a getter that throws') }, get code (): string { throw new Error('another') } }
  }, { retry: false })
  await app.ready()
  await app.amqp.publish(key, { n: 1 })
  const dead = await waitFor('the message in the dead-letter queue', () => take(`${key}.dlq`))
  t.same(JSON.parse(dead.content.toString()), { n: 1 })
  t.equal(dead.properties.headers?.['x-warren-reason'], 'handler-failed')
  t.equal(runs, 1)
  await app.close()
  t.equal((await ch.checkQueue(key)).messageCount, 0, 'and the original was acked')
})

t.test('a consumer added after ready whose first setup fails is tried again with backoff; health() names it and why until it runs', async (t) => {
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  // The queue exists with other arguments: declaring it fails until it is deleted.
  await ch.assertQueue(key, { durable: true, arguments: { 'x-max-length': 5 } })
  const app = await build(t, { reconnectDelay: 50, reconnectDelayMax: 200 })
  const got = collector<number>(1)
  const consumer = app.amqp.consume(key, async (msg: WarrenMessage<any>) => { got.push(msg.body.n) })
  const err: any = await consumer.ready().catch((e) => e)
  t.equal(err.code, 'FST_AMQP_TOPOLOGY_MISMATCH', 'ready() rejects with why the first setup failed')
  const health = app.amqp.health()
  t.equal(health.status, 'degraded')
  t.match(health.consumers, { total: 1, running: 0 })
  t.match(health.consumers.list, [{ queue: key, running: false, error: { code: 'FST_AMQP_TOPOLOGY_MISMATCH' } }], 'health() names the consumer and why it is not running')

  await ch.deleteQueue(key)
  await waitFor('the consumer to start on a later try', () => app.amqp.health().status === 'ok', 10000)
  t.match(app.amqp.health().consumers.list, [{ queue: key, running: true }])
  await app.amqp.publish(key, { n: 1 })
  t.same(await got.done, [1], 'and it receives')
})

t.test('a second consume() of the same queue in one app throws FST_AMQP_DUPLICATE_CONSUMER; after the first is cancelled the queue is free again', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const app = await build(t)
  const first = app.amqp.consume(key, async () => {})
  await first.ready()
  t.throws(() => app.amqp.consume(key, async () => {}), { code: 'FST_AMQP_DUPLICATE_CONSUMER' })
  t.throws(() => app.amqp.consume('another.key', async () => {}, { queue: key }), { code: 'FST_AMQP_DUPLICATE_CONSUMER' }, 'the queue counts, not the routing key')
  const a = app.amqp.consume(key, async () => {}, { exclusive: true })
  const b = app.amqp.consume(key, async () => {}, { exclusive: true })
  await Promise.all([a.ready(), b.ready()])
  t.pass('exclusive queues are each their own')
  await first.cancel()
  const again = app.amqp.consume(key, async () => {})
  await again.ready()
  t.pass('once cancelled, the queue may be consumed again')
})

t.test('a consumer that only answers requests declares no wait or dead-letter queue; the first failure declares what it needs', async (t) => {
  const key = uniqueName(t)
  const { queues, exists } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    if (msg.body.fail) throw new Error('failed')
    return 'pong'
  }, { retry: { attempts: 2, delay: 20 } })
  await app.ready()
  t.equal(await app.amqp.request(key, {}), 'pong')
  t.ok(await exists(key))
  for (const name of [`${key}.retry.1`, `${key}.dlq`]) t.notOk(await exists(name), `no ${name.slice(key.length)} yet`)
  await app.amqp.publish(key, { fail: true })
  await waitFor('the dead-letter queue to be declared and to hold the message', async () => await exists(`${key}.dlq`) && await exists(`${key}.retry.1`))
  t.pass('the wait queue and the dead-letter queue exist once needed')
})
