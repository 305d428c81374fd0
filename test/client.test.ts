import t from 'tap'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import { createWarren, defineMessage, errors, warren, type WarrenClient, type WarrenMessage } from '../lib/index'
import { AMQP_URL, admin, ON_MEMORY, closedPort, collector, deferred, deleteExchange, uniqueName, waitFor } from './helpers'

/*
 * createWarren(): the core without a web framework, as a worker uses it. The
 * same options, errors and lifecycle as the Fastify plugin.
 */

interface TestLike { name: string, teardown (fn: () => unknown): void }

/** Deletes these queues (and their wait and dead-letter queues) after the test. */
async function dropAfter (t: TestLike, ...queues: string[]): Promise<void> {
  (await admin(t)).queues.push(...queues)
}

/** A client on the test broker with an exchange of its own, closed (and the exchange deleted) after the test. */
function client (t: TestLike, opts: Record<string, unknown> = {}): { warren: WarrenClient, exchange: string } {
  const exchange = uniqueName(t, 'x')
  const warren = createWarren({ url: AMQP_URL, exchange, ...opts } as any)
  t.teardown(async () => {
    await warren.close()
    await deleteExchange(exchange)
  })
  return { warren, exchange }
}

t.test('a worker with no web framework consumes what it publishes, with consumers registered before start()', async (t) => {
  const { warren } = client(t)
  const key = uniqueName(t)
  await dropAfter(t, key)
  const got = collector<WarrenMessage>(2)
  warren.consume(key, async (msg) => { got.push(msg) })
  await warren.start()
  await warren.publish(key, { n: 1 })
  await warren.publish(key, { n: 2 })
  t.same((await got.done).map((m) => m.body), [{ n: 1 }, { n: 2 }])
  t.equal(warren.health().status, 'ok')
})

t.test('start() called twice returns the same promise and starts each consumer once', async (t) => {
  const { warren } = client(t)
  const key = uniqueName(t)
  await dropAfter(t, key)
  let calls = 0
  warren.consume(key, async () => { calls++ })
  const first = warren.start()
  t.equal(warren.start(), first, 'the second call is the first one')
  await first
  await warren.start()
  await warren.publish(key, 'once')
  await waitFor('the message', () => calls === 1)
  t.equal(warren.health().consumers.total, 1)
})

t.test('consume() after start() starts at once', async (t) => {
  const { warren } = client(t)
  await warren.start()
  const key = uniqueName(t)
  await dropAfter(t, key)
  const got = collector<WarrenMessage>(1)
  const consumer = warren.consume(key, async (msg) => { got.push(msg) })
  await consumer.ready()
  await warren.publish(key, 'late')
  t.same((await got.done).map((m) => m.body), ['late'])
})

t.test('publish(), request() and gather() before start() reject with FST_AMQP_NOT_STARTED', async (t) => {
  const { warren } = client(t)
  await t.rejects(warren.publish('k', 1), { code: 'FST_AMQP_NOT_STARTED', statusCode: 503 })
  await t.rejects(warren.request('k', 1), { code: 'FST_AMQP_NOT_STARTED' })
  await t.rejects(warren.gather('k', 1), { code: 'FST_AMQP_NOT_STARTED' })
  t.equal(warren.health().status, 'down')
})

t.test('bad options throw the same FST_AMQP_INVALID_OPTION as the plugin, from createWarren() itself', async (t) => {
  t.throws(() => createWarren({ url: 'http://example.com' }), { code: 'FST_AMQP_INVALID_OPTION', message: /url/ })
  t.throws(() => createWarren({ url: AMQP_URL, prefetch: 0 }), { code: 'FST_AMQP_INVALID_OPTION', message: /prefetch/ })
  t.throws(() => createWarren({ url: AMQP_URL, nope: 1 } as any), { code: 'FST_AMQP_INVALID_OPTION', message: /nope/ })
  t.throws(() => createWarren({ url: AMQP_URL, logger: console.log } as any), { code: 'FST_AMQP_INVALID_OPTION', message: /logger/ })
  t.throws(() => createWarren(null as any), { code: 'FST_AMQP_INVALID_OPTION' })
  // The plugin says the same of the same option.
  const app = Fastify()
  await t.rejects(async () => { await app.register(warren, { url: AMQP_URL, prefetch: 0 }).ready() }, { code: 'FST_AMQP_INVALID_OPTION', message: /prefetch/ })
})

t.test('start() rejects with FST_AMQP_CONNECT_TIMEOUT when nothing answers, as ready() does', { skip: ON_MEMORY && 'a TCP port' }, async (t) => {
  const port = await closedPort()
  const warren = createWarren({ url: `amqp://guest:secret@127.0.0.1:${port}`, connectTimeout: 300, reconnectDelay: 50 })
  t.teardown(() => warren.close())
  const err = await warren.start().then(() => undefined, (e: Error) => e)
  t.match(err, { code: 'FST_AMQP_CONNECT_TIMEOUT' })
  t.notMatch(String(err), /secret/, 'the password is not in the error')
})

t.test('start() rejects with FST_AMQP_ACCESS_REFUSED for bad credentials, as ready() does', { skip: ON_MEMORY && 'credentials' }, async (t) => {
  const warren = createWarren({ url: AMQP_URL.replace('guest:guest', 'guest:wrong'), connectTimeout: 3000 })
  t.teardown(() => warren.close())
  await t.rejects(warren.start(), { code: 'FST_AMQP_ACCESS_REFUSED' })
})

t.test('close() lets the handler in flight finish and ack, is safe to call twice, and publish() then rejects with FST_AMQP_CLOSED', async (t) => {
  const { warren } = client(t)
  const key = uniqueName(t)
  await dropAfter(t, key)
  const entered = deferred()
  const release = deferred()
  let finished = 0
  warren.consume(key, async () => {
    entered.resolve()
    await release.promise
    finished++
  })
  await warren.start()
  await warren.publish(key, 'slow')
  await entered.promise
  const closing = warren.close()
  t.equal(warren.close(), closing, 'the second close() is the first one')
  setTimeout(() => release.resolve(), 100)
  await closing
  t.equal(finished, 1, 'the handler finished before close() resolved')
  await t.rejects(warren.publish(key, 'after'), { code: 'FST_AMQP_CLOSED' })
  await t.rejects(warren.start(), { code: 'FST_AMQP_CLOSED' })
  t.throws(() => warren.consume(uniqueName(t), async () => {}), { code: 'FST_AMQP_CLOSED' })

  // The message was acked: a new consumer of the queue gets nothing.
  const again = createWarren({ url: AMQP_URL })
  t.teardown(() => again.close())
  let redelivered = 0
  again.consume(key, async () => { redelivered++ })
  await again.start()
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(redelivered, 0, 'nothing was left unacked')
})

t.test('the client installs no signal handlers', async (t) => {
  const before = ['SIGTERM', 'SIGINT'].map((s) => process.listenerCount(s))
  const { warren } = client(t)
  await warren.start()
  await warren.close()
  t.same(['SIGTERM', 'SIGINT'].map((s) => process.listenerCount(s)), before)
})

t.test('a pino-compatible logger gets the lines, with plugin: amqp, and never the password', async (t) => {
  const lines: Array<Record<string, unknown> & { msg?: string }> = []
  const logger = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((level) => [level, (o: object, msg?: string) => { lines.push({ level, ...o, msg }) }]))
  const { warren } = client(t, { logger })
  await warren.start()
  await warren.close()
  t.ok(lines.some((l) => l.msg === 'amqp connected' && l.plugin === 'amqp'), 'connected is logged')
  t.notMatch(JSON.stringify(lines), /guest:guest/, 'no password')
})

t.test('a defined message is validated and typed on the client as on app.amqp', async (t) => {
  const { warren } = client(t)
  const Order = defineMessage(uniqueName(t), { body: Type.Object({ id: Type.Integer() }) })
  await dropAfter(t, Order.routingKey)
  const got = collector<number>(1)
  warren.consume(Order, async (msg) => { got.push(msg.body.id) })
  await warren.start()
  await t.rejects(warren.publish(Order, { id: 'x' } as any), { code: 'FST_AMQP_INVALID_MESSAGE', statusCode: 400 })
  await warren.publish(Order, { id: 7 })
  t.same(await got.done, [7])
})

t.test('a request served by one client is answered to another', async (t) => {
  const { warren: server, exchange } = client(t)
  const { warren: caller } = client(t, { exchange })
  const key = uniqueName(t)
  await dropAfter(t, key)
  server.consume(key, async (msg: WarrenMessage<number>) => msg.body * 2)
  await server.start()
  await caller.start()
  t.equal(await caller.request(key, 21, { timeout: 5000 }), 42)
})

t.test('handlers run with the client as `this`', async (t) => {
  const { warren } = client(t)
  const key = uniqueName(t)
  await dropAfter(t, key)
  const seen = deferred<unknown>()
  warren.consume(key, async function (this: unknown) { seen.resolve(this) })
  await warren.start()
  await warren.publish(key, 1)
  t.equal(await seen.promise, warren)
})

t.test('errors carry status and headers for Express: an RPC timeout is a 504', async (t) => {
  const { warren } = client(t, { closeTimeout: 200 })
  const key = uniqueName(t)
  await dropAfter(t, key)
  warren.consume(key, async () => await new Promise(() => {}))
  await warren.start()
  const err = await warren.request(key, 1, { timeout: 200 }).then(() => undefined, (e: any) => e)
  t.match(err, { code: 'FST_AMQP_RPC_TIMEOUT', statusCode: 504, status: 504 })
  t.ok(err instanceof errors.FST_AMQP_RPC_TIMEOUT)
})

t.test('a Fastify app given { client } starts it on ready(), and its close() cancels only the consumers registered through it, leaving the client open', async (t) => {
  const { warren: shared } = client(t)
  const direct = uniqueName(t, 'direct')
  const viaApp = uniqueName(t, 'app')
  await dropAfter(t, direct, viaApp)
  const gotDirect = collector<unknown>(2)
  const gotApp = collector<unknown>(1)
  shared.consume(direct, async (msg) => { gotDirect.push(msg.body) })

  const app = Fastify()
  await app.register(warren, { client: shared })
  let self: unknown
  app.amqp.consume(viaApp, async function (this: unknown, msg) { self = this; gotApp.push(msg.body) })
  await app.ready() // starts the client: it was never started
  await app.amqp.publish(viaApp, 'to the app')
  t.same(await gotApp.done, ['to the app'])
  t.equal(self, app, 'handlers registered through the app run with the app as `this`')
  t.equal(shared.health().consumers.total, 2)

  await app.close()
  t.equal(shared.health().consumers.total, 1, 'the app\'s consumer is cancelled')
  t.equal(shared.health().status, 'ok', 'the client is still open')
  await shared.publish(direct, 'one')
  await shared.publish(direct, 'two')
  t.same(await gotDirect.done, ['one', 'two'], 'the client still publishes and consumes')
})

t.test('{ client } takes only name beside it, and only a client made by createWarren()', async (t) => {
  const { warren: shared } = client(t)
  await t.rejects(async () => { await Fastify().register(warren, { client: shared, prefetch: 5 } as any).ready() }, { code: 'FST_AMQP_INVALID_OPTION', message: /prefetch/ })
  await t.rejects(async () => { await Fastify().register(warren, { client: {} } as any).ready() }, { code: 'FST_AMQP_INVALID_OPTION', message: /client/ })
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(warren, { client: shared, name: 'events' })
  await app.ready()
  t.equal(app.amqp.events.health().status, 'ok', 'a shared client may be named')
})

t.test('ready() of an app given { client } rejects with the client\'s coded error when its broker cannot be reached', { skip: ON_MEMORY && 'a TCP port' }, async (t) => {
  const port = await closedPort()
  const shared = createWarren({ url: `amqp://127.0.0.1:${port}`, connectTimeout: 300, reconnectDelay: 50 })
  t.teardown(() => shared.close())
  const app = Fastify()
  await app.register(warren, { client: shared })
  await t.rejects(async () => { await app.ready() }, { code: 'FST_AMQP_CONNECT_TIMEOUT' })
})
