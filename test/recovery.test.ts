import t from 'tap'
import net from 'node:net'
import Fastify from 'fastify'
import warren, { type WarrenMessage } from '../lib/index'
import { admin, build, collector, proxy, ready, uniqueName } from './helpers'

t.test('after the connection is cut, the plugin reconnects and its consumers and requests work again', async (t) => {
  const p = await proxy(t)
  const exchange = uniqueName(t, 'x')
  const events = uniqueName(t, 'events')
  const rpc = uniqueName(t, 'rpc')
  const { queues, exchanges } = await admin(t)
  queues.push(events, rpc); exchanges.push(exchange)
  const app = await build(t, { url: p.url, exchange, reconnectDelay: 50 }, { ready: false })
  const got = collector<number>(2)
  app.amqp.consume(events, async (msg: WarrenMessage<any>) => { got.push(msg.body) })
  app.amqp.consume(rpc, async (msg: WarrenMessage<any>) => msg.body * 2)
  await app.ready()
  await app.amqp.publish(events, 1)
  t.equal(await app.amqp.request(rpc, 21), 42)

  p.refuse()
  p.cut()
  // While the broker is unreachable a request fails with a coded error by its timeout; nothing crashes.
  const during: any = await app.amqp.request(rpc, 1, { timeout: 300 }).catch((e) => e)
  t.match(during.code, /^FST_AMQP_(RPC_TIMEOUT|RPC_INTERRUPTED|NOT_CONNECTED|PUBLISH_UNCONFIRMED)$/)

  p.accept()
  // Publishes wait for the new connection; the consumer resumed on it.
  await app.amqp.publish(events, 2)
  t.same((await got.done).sort(), [1, 2])
  t.equal(await app.amqp.request(rpc, 50, { timeout: 5000 }), 100)
})

t.test('a publish to an exchange deleted after its first use rejects with FST_AMQP_EXCHANGE_NOT_FOUND, and publishing goes on', async (t) => {
  const side = uniqueName(t, 'side')
  const key = uniqueName(t)
  const { ch, queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(side)
  const app = await build(t, { reconnectDelay: 50 }, { ready: false })
  const got = collector<string>(1)
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => { got.push(msg.body) })
  await app.ready()
  await ch.assertExchange(side, 'fanout', { durable: false })
  await app.amqp.publish('k', 'first', { exchange: side, mandatory: false })
  await ch.deleteExchange(side)
  await t.rejects(app.amqp.publish('k', 'second', { exchange: side, mandatory: false }), { code: 'FST_AMQP_EXCHANGE_NOT_FOUND' })
  await t.rejects(app.amqp.publish('k', 'third', { exchange: side, mandatory: false }), { code: 'FST_AMQP_EXCHANGE_NOT_FOUND' }, 'checked again, not cached')
  await app.amqp.publish(key, 'still works')
  t.same(await got.done, ['still works'])
})

t.test('a request to an exchange deleted after its first use rejects with FST_AMQP_EXCHANGE_NOT_FOUND, and requests go on working', async (t) => {
  const side = uniqueName(t, 'side')
  const key = uniqueName(t)
  const { ch, queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(side)
  await ch.assertExchange(side, 'direct', { durable: true })
  const app = await build(t, { reconnectDelay: 50 }, { ready: false })
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => msg.body * 2)
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => msg.body * 3, { exchange: side, exchangeType: 'direct', queue: `${key}.side` })
  queues.push(`${key}.side`)
  await app.ready()
  t.equal(await app.amqp.request(key, 2, { exchange: side }), 6, 'a request through the side exchange works')
  await ch.deleteExchange(side)
  await t.rejects(app.amqp.request(key, 2, { exchange: side, timeout: 3000 }), { code: 'FST_AMQP_EXCHANGE_NOT_FOUND' })
  await t.rejects(app.amqp.request(key, 2, { exchange: side, timeout: 3000 }), { code: 'FST_AMQP_EXCHANGE_NOT_FOUND' }, 'checked again, not cached')
  t.equal(await app.amqp.request(key, 5, { timeout: 5000 }), 10, 'requests to the plugin\'s exchange still work')
})

t.test('a broker that accepts TCP but never answers fails ready() with FST_AMQP_CONNECT_TIMEOUT, not Fastify\'s plugin timeout', async (t) => {
  const silent = net.createServer(() => {})
  const held: net.Socket[] = []
  silent.on('connection', (s) => held.push(s))
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of held) s.destroy(); silent.close() })
  const { port } = silent.address() as net.AddressInfo
  const app = Fastify({ pluginTimeout: 4000 })
  t.teardown(() => app.close())
  app.register(warren, { url: `amqp://guest:guest@127.0.0.1:${port}`, connectTimeout: 1500, reconnectDelay: 5000 })
  await t.rejects(ready(app), { code: 'FST_AMQP_CONNECT_TIMEOUT' })
})

t.test('a consumer cancelled before ready does not start and does not fail ready()', async (t) => {
  const key = uniqueName(t)
  const app = await build(t, {}, { ready: false })
  const consumer = app.amqp.consume(key, async () => {})
  await consumer.cancel()
  await ready(app)
  await t.rejects(consumer.ready(), { code: 'FST_AMQP_CLOSED' })
  const { exists } = await admin(t)
  t.equal(await exists(key), false, 'its queue was never declared')
})
