import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import type { FastifyInstance } from 'fastify'
import { admin, build, collector, deferred, ready, uniqueName } from './helpers'

t.test('a message published while no consumer runs waits in the durable default queue and arrives when one starts', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)

  // A first run of the consuming service declares its queue, then stops.
  const first = await build(t, { exchange }, { ready: false })
  first.amqp.consume(key, async () => {})
  await first.ready()
  await first.close()

  // The producer publishes while the consumer is down: confirmed, not unroutable.
  const producer = await build(t, { exchange })
  await producer.amqp.publish(key, { order: 1 })

  // The consumer comes back and gets it.
  const got = collector<unknown>(1)
  const second = await build(t, { exchange }, { ready: false })
  second.amqp.consume(key, async (msg: WarrenMessage<any>) => { got.push(msg.body) })
  await second.ready()
  t.same(await got.done, [{ order: 1 }])
})

t.test('two instances consuming the same routing key share one queue and split the work', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)
  const all = collector<string>(20)
  const seen: Record<string, number[]> = { a: [], b: [] }
  for (const name of ['a', 'b']) {
    const app = await build(t, { exchange }, { ready: false })
    app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
      seen[name].push(msg.body.n)
      // Hold each message a moment so both instances get a share.
      await new Promise((resolve) => setTimeout(resolve, 20))
      all.push(name)
    }, { prefetch: 1 })
    await app.ready()
  }
  const producer = await build(t, { exchange })
  for (let n = 0; n < 20; n++) await producer.amqp.publish(key, { n })
  await all.done
  t.equal(seen.a.length + seen.b.length, 20, 'every message handled once')
  t.same([...seen.a, ...seen.b].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i))
  t.ok(seen.a.length > 0 && seen.b.length > 0, `both got work (a=${seen.a.length}, b=${seen.b.length})`)
})

t.test('two instances with exclusive queues each receive every message', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { exchanges } = await admin(t)
  exchanges.push(exchange)
  const a = collector<number>(5)
  const b = collector<number>(5)
  for (const c of [a, b]) {
    const app = await build(t, { exchange }, { ready: false })
    app.amqp.consume(key, async (msg: WarrenMessage<any>) => { c.push(msg.body.n) }, { exclusive: true })
    await app.ready()
  }
  const producer = await build(t, { exchange })
  for (let n = 0; n < 5; n++) await producer.amqp.publish(key, { n })
  t.same((await a.done).sort(), [0, 1, 2, 3, 4])
  t.same((await b.done).sort(), [0, 1, 2, 3, 4])
})

t.test('a named queue gives each service its own copy, shared by that service\'s instances', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const billing = uniqueName(t, 'billing')
  const audit = uniqueName(t, 'audit')
  const { queues, exchanges } = await admin(t)
  queues.push(billing, audit); exchanges.push(exchange)
  const billed = collector<number>(3)
  const audited = collector<number>(3)
  const app = await build(t, { exchange }, { ready: false })
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => { billed.push(msg.body.n) }, { queue: billing })
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => { audited.push(msg.body.n) }, { queue: audit })
  await app.ready()
  for (let n = 0; n < 3; n++) await app.amqp.publish(key, { n })
  t.same((await billed.done).sort(), [0, 1, 2])
  t.same((await audited.done).sort(), [0, 1, 2])
})

t.test('a consumer registered in a nested plugin runs with that plugin\'s instance as this and sees its decorators', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)
  const app = await build(t, { exchange }, { ready: false })
  const got = collector<string>(1)
  app.register(async function outer (outer) {
    outer.register(async function inner (inner) {
      inner.decorate('store', { name: 'inner-store' })
      inner.amqp.consume(key, async function (this: FastifyInstance) {
        got.push((this as any).store.name)
      })
    })
  })
  await app.ready()
  t.notOk((app as any).store, 'the decorator stays encapsulated')
  await app.amqp.publish(key, {})
  t.same(await got.done, ['inner-store'])
})

t.test('a consumer registered after ready starts at once', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)
  const app = await build(t, { exchange })
  const got = collector<unknown>(1)
  const consumer = app.amqp.consume(key, async (msg: WarrenMessage<any>) => { got.push(msg.body) })
  await consumer.ready()
  t.equal(consumer.queue, key)
  await app.amqp.publish(key, 'late')
  t.same(await got.done, ['late'])
})

t.test('the handler gets routing key, exchange, headers, properties and the redelivered flag', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)
  const app = await build(t, { exchange }, { ready: false })
  const got = collector<any>(1)
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => { got.push(msg) })
  await app.ready()
  await app.amqp.publish(key, { x: 1 }, { headers: { 'x-tenant': 't1' } })
  const [msg] = await got.done
  t.match(msg, { routingKey: key, exchange, headers: { 'x-tenant': 't1' }, redelivered: false, body: { x: 1 } })
  t.ok(Buffer.isBuffer(msg.content))
  t.equal(msg.properties.contentType, 'application/json')
})

t.test('prefetch bounds how many handlers of a consumer run at once', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)
  const app = await build(t, { exchange }, { ready: false })
  let running = 0
  let peak = 0
  const done = collector<number>(8)
  const gate = deferred()
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    running++
    peak = Math.max(peak, running)
    if (running === 2) gate.resolve()
    await gate.promise
    await new Promise((resolve) => setImmediate(resolve))
    running--
    done.push(msg.body)
  }, { prefetch: 2 })
  await app.ready()
  for (let n = 0; n < 8; n++) await app.amqp.publish(key, n)
  await done.done
  t.equal(peak, 2)
})

t.test('consume() rejects bad arguments with FST_AMQP_INVALID_ARGUMENT naming them', async (t) => {
  const exchange = uniqueName(t, 'x')
  const app = await build(t, { exchange })
  const { exchanges } = await admin(t)
  exchanges.push(exchange)
  const h = async () => {}
  t.throws(() => app.amqp.consume(7 as any, h), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /routingKey/ })
  t.throws(() => app.amqp.consume([], h), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /routingKey/ })
  t.throws(() => app.amqp.consume('k', 'nope' as any), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /handler/ })
  t.throws(() => app.amqp.consume('k', h, { prefetch: 0 }), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /prefetch/ })
  t.throws(() => app.amqp.consume('k', h, { exchangeType: 'x-delayed' as any, exchange: 'e' }), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /exchangeType/ })
  t.throws(() => app.amqp.consume('k', h, { exchangeType: 'fanout' }), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /exchangeType/ })
  t.throws(() => app.amqp.consume('k', h, { exclusive: true, queue: 'q' }), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /queue/ })
  t.throws(() => app.amqp.consume(['a', 'b'], h), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /queue/ })
  t.throws(() => app.amqp.consume('k', h, { headers: { a: 1 } }), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /headers/ })
  t.throws(() => app.amqp.consume('k', h, { qeueu: 'x' } as any), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /qeueu/ })
})

t.test('a queue that exists with other arguments fails ready() with FST_AMQP_TOPOLOGY_MISMATCH naming the queue, the argument, the declared and the actual value', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { ch, queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)
  await ch.assertQueue(key, { durable: true, arguments: { 'x-message-ttl': 60000 } })
  const app = await build(t, { exchange }, { ready: false })
  app.amqp.consume(key, async () => {})
  await t.rejects(ready(app), {
    code: 'FST_AMQP_TOPOLOGY_MISMATCH',
    queue: key,
    argument: 'x-message-ttl',
    expected: '(not set)',
    actual: /^60000 /,
    message: new RegExp(`Queue "${key.replace(/\./g, '\\.')}" exists with x-message-ttl = 60000`)
  })
})

t.test('an exchange that exists with another type fails ready() with FST_AMQP_TOPOLOGY_MISMATCH naming the type of each', async (t) => {
  const exchange = uniqueName(t, 'x')
  const other = uniqueName(t, 'other')
  const { ch, exchanges } = await admin(t)
  exchanges.push(exchange, other)
  await ch.assertExchange(other, 'fanout', { durable: true })
  const app = await build(t, { exchange }, { ready: false })
  app.amqp.consume(uniqueName(t), async () => {}, { exchange: other, exchangeType: 'direct', exclusive: true })
  await t.rejects(ready(app), { code: 'FST_AMQP_TOPOLOGY_MISMATCH', exchange: other, argument: 'type', expected: 'direct', actual: 'fanout' })
})
