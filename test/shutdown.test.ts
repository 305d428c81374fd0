import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import { admin, build, collector, deferred, uniqueName, waitFor } from './helpers'

t.test('app.close() with 50 handlers in flight: all 50 finish and are acked, the rest stay in the queue, and a second app drains them, so processed = published', async (t) => {
  const TOTAL = 300
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { ch, queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)

  const processed = new Map<number, number>()
  const count = (n: number) => processed.set(n, (processed.get(n) ?? 0) + 1)
  const first = await build(t, { exchange }, { ready: false })
  const fifty = collector<number>(50)
  const gate = deferred()
  let startedAfterClose = 0
  let closing = false
  first.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    if (closing) startedAfterClose++
    fifty.push(msg.body.n)
    await gate.promise
    // Finish at different times, as real work does.
    await new Promise((resolve) => setTimeout(resolve, (msg.body.n % 7) * 10))
    count(msg.body.n)
  }, { prefetch: 50 })
  await first.ready()

  const producer = await build(t, { exchange })
  await Promise.all(Array.from({ length: TOTAL }, (_, n) => producer.amqp.publish(key, { n })))
  await fifty.done
  t.equal(processed.size, 0, 'fifty handlers are in flight, none finished')

  closing = true
  const closed = first.close()
  // The handlers finish only after close() has begun: it must wait for them.
  setImmediate(() => gate.resolve())
  await closed
  t.equal(processed.size, 50, 'all 50 handlers in flight finished before close() resolved')
  t.equal(startedAfterClose, 0, 'no handler started once close() had begun')
  t.equal((await ch.checkQueue(key)).messageCount, TOTAL - 50, 'their messages were acked; the other 250 (prefetched or not) are back in the queue')

  const second = await build(t, { exchange }, { ready: false })
  second.amqp.consume(key, async (msg: WarrenMessage<any>) => { count(msg.body.n) }, { prefetch: 50 })
  await second.ready()
  await waitFor('the second app to drain the queue', () => processed.size === TOTAL)
  t.equal(processed.size, TOTAL, 'processed = published')
  t.same([...processed.values()].filter((c) => c !== 1), [], 'and each message exactly once')
})

t.test('a handler still running at closeTimeout does not hold close() up: its message goes back to the queue and the next app gets it, marked redelivered', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)
  const stuck = await build(t, { exchange, closeTimeout: 300 }, { ready: false })
  const started = collector<number>(1)
  stuck.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    started.push(msg.body)
    await new Promise(() => {}) // never settles
  })
  await stuck.ready()
  await stuck.amqp.publish(key, 1)
  await started.done
  await stuck.close()
  t.pass('close() resolved although the handler never finished')

  const next = await build(t, { exchange }, { ready: false })
  const again = collector<{ body: number, redelivered: boolean }>(1)
  next.amqp.consume(key, async (msg: WarrenMessage<any>) => { again.push({ body: msg.body, redelivered: msg.redelivered }) })
  await next.ready()
  t.same(await again.done, [{ body: 1, redelivered: true }])
})

t.test('app.close() waits for publishes still awaiting their confirm: each resolves and its message is in the queue', async (t) => {
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  await ch.assertQueue(key, { durable: true })
  const app = await build(t)
  const publishes = Array.from({ length: 500 }, (_, n) => app.amqp.publish(key, { n }, { exchange: '' }))
  const closed = app.close()
  const results = await Promise.allSettled(publishes)
  await closed
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 500, 'all 500 publishes resolved')
  t.equal((await ch.checkQueue(key)).messageCount, 500, 'and all 500 messages are in the queue')
})

t.test('a consumer started on a queue that already holds more than its prefetch handles and acks every message', async (t) => {
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  await ch.assertQueue(key, { durable: true })
  for (let n = 0; n < 1000; n++) ch.sendToQueue(key, Buffer.from(JSON.stringify({ n })), { contentType: 'application/json' })
  await waitFor('the queue to be filled', async () => (await ch.checkQueue(key)).messageCount === 1000)
  // Its first deliveries arrive in the same read as basic.consume-ok, before the consumer's setup has returned.
  const app = await build(t, {}, { ready: false })
  const got = collector<number>(1000)
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => { got.push(msg.body.n) }, { prefetch: 100, exchange: '' })
  await app.ready()
  t.equal((await got.done).length, 1000, 'all 1,000 handled')
  await waitFor('every message to be acked', async () => (await ch.checkQueue(key)).messageCount === 0)
  await app.close()
  t.equal((await ch.checkQueue(key)).messageCount, 0, 'and acked: none is back in the queue after close')
})
