import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import warren, { type WarrenMessage } from '../lib/index'
import { memoryBroker, type TestBroker } from '../lib/testing'

/*
 * fastify-warren/testing as a user's tests use it: apps on a memory broker,
 * no RabbitMQ. What these tests show is what docs/testing.md shows.
 */

async function app (t: Test, broker: TestBroker, opts: Record<string, unknown> = {}): Promise<FastifyInstance> {
  const a = Fastify()
  t.teardown(() => a.close())
  await a.register(warren, { url: broker.url, reconnectDelay: 20, ...opts })
  return a
}

t.test('a consumer\'s effect is visible once settled() resolves, with no sleep', async (t) => {
  const broker = memoryBroker()
  const a = await app(t, broker)
  const saved: unknown[] = []
  a.amqp.consume('orders.placed', async (msg: WarrenMessage<any>) => {
    await new Promise((resolve) => setTimeout(resolve, 20)) // a database write
    saved.push(msg.body)
  })
  await a.ready()
  await a.amqp.publish('orders.placed', { id: 1 })
  await a.amqp.publish('orders.placed', { id: 2 })
  await broker.settled()
  t.same(saved, [{ id: 1 }, { id: 2 }])
})

t.test('two apps on one named broker talk as two services: request() gets the other app\'s reply', async (t) => {
  const broker = memoryBroker()
  const pricing = await app(t, broker, { connectionName: 'pricing' })
  const shop = await app(t, broker, { connectionName: 'shop' })
  pricing.amqp.consume('price.quote', async (msg: WarrenMessage<any>) => ({ sku: msg.body.sku, price: 9.5 }))
  await pricing.ready()
  await shop.ready()
  t.same(await shop.amqp.request('price.quote', { sku: 'tea' }), { sku: 'tea', price: 9.5 })
})

t.test('a handler that keeps failing is retried through the wait queues and ends in the dead-letter queue, which messages() lists', async (t) => {
  const broker = memoryBroker()
  const a = await app(t, broker)
  let tries = 0
  a.amqp.consume('orders.placed', async () => {
    tries++
    throw new Error('the database is down')
  }, { retry: { attempts: 3, delay: 20, jitter: 0 } })
  await a.ready()
  await a.amqp.publish('orders.placed', { id: 7 })
  await broker.settled()
  t.equal(tries, 3)
  const [dead, ...more] = broker.messages('orders.placed.dlq')
  t.same(more, [])
  t.same(dead.body, { id: 7 })
  t.match(dead.headers, { 'x-warren-reason': 'handler-failed', 'x-warren-attempts': 3, 'x-warren-error-message': 'the database is down' })
  t.same(broker.messages('orders.placed'), [], 'nothing left in the queue')
})

t.test('publish() sends as a foreign producer would: a body that does not decode goes to the dead-letter queue, the handler never sees it', async (t) => {
  const broker = memoryBroker()
  const a = await app(t, broker)
  const seen: unknown[] = []
  a.amqp.consume('orders.placed', async (msg) => { seen.push(msg.body) })
  await a.ready()
  await broker.publish('warren', 'orders.placed', '{not json', { contentType: 'application/json', messageId: 'poison-1' })
  await broker.settled()
  t.same(seen, [])
  t.match(broker.messages('orders.placed.dlq'), [{ properties: { messageId: 'poison-1' }, headers: { 'x-warren-reason': 'undecodable' } }])
})

t.test('disconnect() is an outage: health() goes down, a publish waits, and once health() is ok again the message is handled', async (t) => {
  const broker = memoryBroker()
  const a = await app(t, broker)
  const got: unknown[] = []
  a.amqp.consume('orders.placed', async (msg) => { got.push(msg.body) })
  await a.ready()
  broker.disconnect()
  t.equal(a.amqp.health().status, 'down')
  await a.amqp.publish('orders.placed', { id: 3 }) // held, then sent once the connection is back
  // A queue whose consumer is away is at rest for settled(): wait for the app to be back first.
  while (a.amqp.health().status !== 'ok') await new Promise((resolve) => setTimeout(resolve, 10))
  await broker.settled()
  t.same(got, [{ id: 3 }])
})

t.test('reset() empties the broker: queues and exchanges are gone', async (t) => {
  const broker = memoryBroker()
  const a = await app(t, broker)
  a.amqp.consume('orders.placed', async () => {})
  await a.ready()
  await a.close()
  await broker.publish('warren', 'orders.placed', { id: 1 })
  t.equal(broker.messages('orders.placed').length, 1, 'held while nobody consumes')
  await broker.reset()
  t.same(broker.messages('orders.placed'), [])
  await t.rejects(broker.publish('warren', 'orders.placed', {}), /404|NOT_FOUND|no exchange/, 'the exchange is gone too')
})
