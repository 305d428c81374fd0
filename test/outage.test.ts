import t from 'tap'
import type { FastifyInstance } from 'fastify'
import warren, { type WarrenMessage } from '../lib/index'
import { admin, appWithLog, build, outcome, proxy, uniqueName, waitFor } from './helpers'

/*
 * Publishing while the connection is down: the proxy refuses new connections
 * and cuts the live one, so only this test's app loses its broker.
 */

/** An app connected through a proxy, and a consumer app connected directly, sharing an exchange and one queue. */
async function setup (t: any, opts: Record<string, unknown> = {}, beforeReady?: (app: FastifyInstance) => void) {
  const p = await proxy(t)
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)
  const consumer = await build(t, { exchange }, { ready: false })
  const got: number[] = []
  consumer.amqp.consume(key, async (msg: WarrenMessage<any>) => { got.push(msg.body.n) }, { prefetch: 1 })
  await consumer.ready()
  const app = await build(t, { url: p.url, exchange, reconnectDelay: 20, reconnectDelayMax: 100, ...opts }, { ready: false })
  beforeReady?.(app)
  await app.ready()
  const down = async () => {
    p.refuse()
    p.cut()
    await waitFor('the app to see the connection gone', () => app.amqp.health().status === 'down')
  }
  return { p, app, key, got, down, queues }
}

t.test('publishes made while the connection is down wait in the buffer and are confirmed, in order, once it is back', async (t) => {
  const { p, app, key, got, down } = await setup(t)
  await down()
  const publishes = Array.from({ length: 20 }, (_, n) => app.amqp.publish(key, { n }))
  t.equal(app.amqp.health().buffered, 20, 'health() counts the 20 held publishes')
  p.accept()
  const receipts = await Promise.all(publishes)
  t.equal(receipts.length, 20, 'every held publish resolved once the connection was back')
  await waitFor('the consumer to receive all 20', () => got.length === 20)
  t.same(got, Array.from({ length: 20 }, (_, n) => n), 'in the order they were published')
  t.equal(app.amqp.health().buffered, 0)
})

t.test('a held publish that outlives its timeout rejects with FST_AMQP_NOT_CONNECTED and a Retry-After header, and is never sent', async (t) => {
  const { p, app, key, got, down } = await setup(t)
  await down()
  const err: any = await app.amqp.publish(key, { n: 1 }, { timeout: 200 }).catch((e) => e)
  t.equal(err.code, 'FST_AMQP_NOT_CONNECTED')
  t.equal(err.statusCode, 503)
  t.match(err.headers, { 'retry-after': /^\d+$/ }, 'with a Retry-After in whole seconds')
  p.accept()
  await waitFor('the app to reconnect', () => app.amqp.health().status === 'ok')
  await app.amqp.publish(key, { n: 2 })
  await waitFor('the message sent after the reconnection', () => got.includes(2))
  t.same(got, [2], 'the timed-out publish was never sent')
})

t.test('with publishBuffer 0 a publish while disconnected rejects at once with FST_AMQP_NOT_CONNECTED', async (t) => {
  const { app, key, down } = await setup(t, { publishBuffer: 0 })
  await down()
  await t.rejects(app.amqp.publish(key, { n: 1 }, { timeout: 60000 }), { code: 'FST_AMQP_NOT_CONNECTED', message: /publishBuffer is 0/ })
  await t.rejects(app.amqp.request(key, { n: 1 }, { timeout: 60000 }), { code: 'FST_AMQP_NOT_CONNECTED' }, 'a request too')
})

t.test('when publishBuffer publishes already wait, one more rejects at once with FST_AMQP_BUFFER_FULL, and the held ones still go out', async (t) => {
  const { p, app, key, got, down } = await setup(t, { publishBuffer: 5 })
  await down()
  const held = Array.from({ length: 5 }, (_, n) => app.amqp.publish(key, { n }))
  const refused: any = await app.amqp.publish(key, { n: 99 }).catch((e) => e)
  t.equal(refused.code, 'FST_AMQP_BUFFER_FULL')
  t.equal(refused.statusCode, 503)
  t.ok(refused.headers?.['retry-after'], 'with a Retry-After header')
  p.accept()
  await Promise.all(held)
  await waitFor('the five held messages', () => got.length === 5)
  t.same(got, [0, 1, 2, 3, 4], 'the five held ones were delivered, the refused one was not')
})

t.test('a route that lets an outage error escape answers 503 with Retry-After', async (t) => {
  const { app, down } = await setup(t, {}, (app) => {
    app.post('/orders', async (request, reply) => {
      await app.amqp.publish('orders', request.body, { timeout: 100 })
      return reply.code(202).send({ queued: true })
    })
  })
  await down()
  const res = await app.inject({ method: 'POST', url: '/orders', payload: { n: 1 } })
  t.equal(res.statusCode, 503)
  t.match(res.headers['retry-after'], /^\d+$/)
  t.equal(res.json().code, 'FST_AMQP_NOT_CONNECTED')
})

t.test('while reconnecting the plugin waits longer after each failed attempt, up to reconnectDelayMax, and logs each attempt', async (t) => {
  const p = await proxy(t)
  const { app, lines } = appWithLog()
  t.teardown(() => app.close())
  const exchange = uniqueName(t, 'x')
  const { exchanges } = await admin(t)
  exchanges.push(exchange)
  await app.register(warren, { url: p.url, reconnectDelay: 20, reconnectDelayMax: 400, exchange })
  await app.ready()
  p.refuse()
  p.cut()
  const waits = await waitFor('six failed reconnection attempts', () => {
    // Each of the app's two connections has a backoff of its own: follow the publishing one.
    const w = lines.map((l) => JSON.parse(l))
      .filter((l) => l.connection === 'publish' && /reconnection attempt failed|connection lost/.test(l.msg))
      .map((l) => l.retryIn as number)
    return w.length >= 6 ? w : undefined
  })
  t.comment(`waits: ${waits.join(', ')} ms`)
  // Attempt n waits between half and all of min(400, 20 × 2^(n-1)).
  waits.slice(0, 6).forEach((w, i) => {
    const ceiling = Math.min(400, 20 * 2 ** i)
    t.ok(w >= ceiling / 2 && w <= ceiling, `wait ${i + 1} is ${w} ms, within [${ceiling / 2}, ${ceiling}]`)
  })
  p.accept()
  await waitFor('the app to reconnect', () => app.amqp.health().status === 'ok', 10000)
  t.ok(lines.some((l) => /amqp reconnected/.test(l)), 'the reconnection is logged')
  // The connection is up before its channels are set up again: wait for the line.
  t.ok(await waitFor('the publishing channel to be set up again', () => lines.some((l) => /channel set up again/.test(l))), 'and the publishing channel set up again')
})

t.test('health() reports down while the connection is lost, and ok with every consumer running once it is back', async (t) => {
  const p = await proxy(t)
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const app = await build(t, { url: p.url, reconnectDelay: 20, reconnectDelayMax: 100 }, { ready: false })
  app.amqp.consume(key, async () => {})
  await app.ready()
  t.match(app.amqp.health(), { status: 'ok', connected: true, blocked: false, consumers: { total: 1, running: 1 }, buffered: 0 })
  p.refuse()
  p.cut()
  await waitFor('health to say down', () => app.amqp.health().status === 'down')
  t.match(app.amqp.health(), { connected: false, consumers: { total: 1, running: 0 } })
  p.accept()
  await waitFor('health to say ok', () => app.amqp.health().status === 'ok')
  t.match(app.amqp.health(), { connected: true, consumers: { total: 1, running: 1 } })
})

t.test('a request that waits for the connection is sent once it is back, and gets its reply', async (t) => {
  const { p, app, down, queues } = await setup(t)
  const rpcKey = uniqueName(t, 'rpc')
  // Deleted by the admin that setup() made before the apps, so after they have closed.
  queues.push(rpcKey)
  // The responder runs in the same app, so it goes down and comes back with it.
  const served = app.amqp.consume(rpcKey, async (msg: WarrenMessage<any>) => msg.body * 2)
  await served.ready()
  t.equal(await app.amqp.request(rpcKey, 1), 2, 'a request works before the outage')
  await down()
  const reply = app.amqp.request(rpcKey, 21, { timeout: 10000 })
  t.equal(app.amqp.health().buffered, 1, 'the request waits in the buffer')
  p.accept()
  t.equal(await reply, 42, 'and gets its reply once the connection is back')
})

t.test('with publishBuffer 0 the first publishes and requests right after boot wait for their channel instead of failing', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const app = await build(t, { publishBuffer: 0 }, { ready: false })
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => msg.body + 1)
  await app.ready()
  // The RPC channel does not exist yet: these are held while it is set up.
  const replies = await Promise.all([app.amqp.request(key, 1), app.amqp.request(key, 2)])
  t.same(replies, [2, 3])
})

t.test('app.close() ends in bounded time while the connections are down, with a consumer still waiting to start', async (t) => {
  const p = await proxy(t)
  const app = await build(t, { url: p.url, reconnectDelay: 1000, connectTimeout: 1500 })
  p.refuse()
  p.cut()
  await waitFor('the app to see the connections gone', () => app.amqp.health().status === 'down')
  const key = uniqueName(t)
  const consumer = app.amqp.consume(key, async () => {})
  t.equal(await outcome(consumer.ready(), 300), 'hung', 'the consumer waits for its connection')
  const closed = await outcome(app.close(), 15000)
  t.equal(closed, 'resolved', 'close() resolved instead of waiting for the broker')
  t.equal(await outcome(consumer.ready(), 100), 'FST_AMQP_CLOSED', 'and the consumer that never started says so')
})
