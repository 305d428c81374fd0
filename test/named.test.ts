import { randomBytes } from 'node:crypto'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import warren, { type Amqp, type WarrenMessage } from '../lib/index'
import { AMQP_URL, ON_MEMORY, admin, appWithLog, closedPort, collector, deferred, deleteExchange, rabbitmqctl, ready, uniqueName, waitFor } from './helpers'

/*
 * Several registrations in one app: the default one is `app.amqp`, a named
 * one `app.amqp.<name>`, each with its own connections, consumers and
 * lifecycle. Where two brokers are needed, the second is an in-memory one
 * of the test's own (memory://<unique>).
 */

declare module 'fastify-warren' {
  interface AmqpRegistrations { events: true }
}

interface TestLike { name: string, teardown (fn: () => unknown): void }

/** An app closed after the test, whose default exchange (on the test broker) is deleted then. */
function app (t: TestLike): { app: FastifyInstance, exchange: string } {
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'silent' } })
  const exchange = uniqueName(t, 'x')
  t.teardown(async () => {
    await app.close()
    await deleteExchange(exchange)
  })
  return { app, exchange }
}

/** A broker of this test's own, in memory. */
function memoryUrl (t: TestLike): string {
  return `memory://${uniqueName(t, 'broker')}`
}

/** The depth of a queue on the in-memory broker named by `url`. */
async function memoryDepth (url: string, queue: string): Promise<number> {
  const { brokerNamed, connectMemory } = await import('../lib/transport/memory/index')
  const conn = await connectMemory(brokerNamed(new URL(url).hostname))
  try {
    const ch = await conn.createChannel()
    return (await ch.checkQueue(queue)).messageCount
  } finally {
    await conn.close()
  }
}

/** An identifier no other test uses, for a registration whose connection names must be unique on the shared broker. */
function uniqueIdentifier (): string {
  return `n${randomBytes(4).toString('hex')}`
}

t.test('a named registration is app.amqp.<name>, registered before or after the default: what is published on one reaches only the consumers registered on it', async (t) => {
  const { app: server, exchange } = app(t)
  const key = uniqueName(t)
  // Named first: the order of registration does not matter.
  await server.register(warren, { url: memoryUrl(t), name: 'events', healthRoute: '/health/events' })
  await server.register(warren, { url: AMQP_URL, exchange, healthRoute: '/health/amqp' })
  const viaDefault = collector<WarrenMessage>(2)
  const viaEvents = collector<WarrenMessage>(2)
  const thisArgs: unknown[] = []
  server.amqp.consume(key, async (msg) => { viaDefault.push(msg) }, { exclusive: true })
  server.amqp.events.consume(key, async function (msg) { thisArgs.push(this); viaEvents.push(msg) }, { exclusive: true })
  await server.ready()

  await server.amqp.publish(key, 'default 1')
  await server.amqp.events.publish(key, 'events 1')
  await server.amqp.events.publish(key, 'events 2')
  await server.amqp.publish(key, 'default 2')
  const [fromDefault, fromEvents] = await Promise.all([viaDefault.done, viaEvents.done])

  t.same(fromDefault.map((m) => m.body), ['default 1', 'default 2'])
  t.same(fromEvents.map((m) => m.body), ['events 1', 'events 2'])
  t.same(fromDefault.map((m) => m.exchange), [exchange, exchange], 'the default registration routes through its own exchange')
  t.same(fromDefault.map((m) => m.properties.appId), ['fastify-warren', 'fastify-warren'])
  t.same(fromEvents.map((m) => m.properties.appId), ['fastify-warren:events', 'fastify-warren:events'], 'a named registration sends as fastify-warren:<name>')
  t.equal(thisArgs[0], server, 'a named registration\'s handler runs with `this` set to the instance')
  t.equal(server.amqp.health().consumers.total, 1)
  t.equal(server.amqp.events.health().consumers.total, 1, 'each registration reports its own consumers')
  t.equal(server.amqp.events, server.amqp.events, 'app.amqp.<name> is built once per instance')

  const defaultHealth = await server.inject('/health/amqp')
  const eventsHealth = await server.inject('/health/events')
  t.equal(defaultHealth.statusCode, 200)
  t.equal(eventsHealth.statusCode, 200)
  t.equal(eventsHealth.json().consumers.total, 1, 'each registration serves its own healthRoute')
})

t.test('two named registrations on the same broker keep their messages apart', async (t) => {
  const { app: server, exchange } = app(t)
  const names = [uniqueIdentifier(), uniqueIdentifier()]
  const exchanges = names.map((n) => uniqueName(t, n))
  const key = uniqueName(t)
  const { exchanges: toDelete } = await admin(t)
  toDelete.push(...exchanges)
  await server.register(warren, { url: AMQP_URL, exchange })
  for (const [i, name] of names.entries()) await server.register(warren, { url: AMQP_URL, name, exchange: exchanges[i] })
  const named = (name: string): Amqp => (server.amqp as unknown as Record<string, Amqp>)[name]
  const got = names.map(() => collector<WarrenMessage>(1))
  names.forEach((name, i) => named(name).consume(key, async (msg) => { got[i].push(msg) }, { exclusive: true }))
  await server.ready()

  await named(names[1]).publish(key, 'second')
  await named(names[0]).publish(key, 'first')
  const [[first], [second]] = await Promise.all(got.map((c) => c.done))
  t.equal(first.body, 'first')
  t.equal(first.exchange, exchanges[0])
  t.equal(first.properties.appId, `fastify-warren:${names[0]}`)
  t.equal(second.body, 'second')
  t.equal(second.exchange, exchanges[1])
  t.equal(second.properties.appId, `fastify-warren:${names[1]}`)
})

t.test('each registration opens its own two connections, listed in the broker as fastify-warren:<name> and fastify-warren:<name> (consumers)', { skip: ON_MEMORY && 'reads RabbitMQ\'s connection list with rabbitmqctl' }, async (t) => {
  const { app: server, exchange } = app(t)
  const names = [uniqueIdentifier(), uniqueIdentifier()]
  const defaultName = uniqueName(t, 'conn')
  await server.register(warren, { url: AMQP_URL, exchange, connectionName: defaultName })
  for (const name of names) await server.register(warren, { url: AMQP_URL, name, exchange })
  await server.ready()
  const listed = await rabbitmqctl('list_connections', '--formatter', 'json', 'client_properties')
  for (const name of [defaultName, ...names.map((n) => `fastify-warren:${n}`)]) {
    t.ok(listed.includes(`"${name}"`), `the publishing connection ${name} is listed`)
    t.ok(listed.includes(`"${name} (consumers)"`), `the consuming connection ${name} (consumers) is listed`)
  }
})

t.test('app.close() closes every registration, each draining its own handlers in flight, all of them at once', async (t) => {
  const { app: server, exchange } = app(t)
  const events = memoryUrl(t)
  const queue = uniqueName(t)
  const { queues, depth } = await admin(t)
  queues.push(queue)
  await server.register(warren, { url: AMQP_URL, exchange })
  await server.register(warren, { url: events, name: 'events' })
  const started = collector<string>(2)
  const release = deferred()
  const finished: string[] = []
  const handler = (who: string) => async () => {
    started.push(who)
    await release.promise
    finished.push(who)
  }
  server.amqp.consume(queue, handler('default'), { queue })
  server.amqp.events.consume(queue, handler('events'), { queue })
  await server.ready()
  await server.amqp.publish(queue, 1)
  await server.amqp.events.publish(queue, 1)
  await started.done

  const closing = server.close()
  // Both stop taking messages while their handlers are still in flight.
  await waitFor('both registrations to cancel their consumers', () =>
    server.amqp.health().consumers.running === 0 && server.amqp.events.health().consumers.running === 0)
  t.same(finished, [], 'no handler has finished yet')
  release.resolve()
  await closing
  t.same(finished.sort(), ['default', 'events'], 'close() resolved after both handlers finished')
  t.equal(await depth(queue), 0, 'the default registration acked its message')
  t.equal(await memoryDepth(events, queue), 0, 'the named registration acked its message')
  t.equal(server.amqp.health().status, 'down')
  t.equal(server.amqp.events.health().status, 'down')
  await t.rejects(server.amqp.events.publish(queue, 2), { code: 'FST_AMQP_CLOSED' })
})

t.test('a registration whose broker cannot be reached fails ready() with its own coded error, naming its URL', async (t) => {
  const { app: server, exchange } = app(t)
  const port = await closedPort()
  await server.register(warren, { url: AMQP_URL, exchange })
  server.register(warren, { url: `amqp://guest:s3cret@127.0.0.1:${port}`, name: 'events', connectTimeout: 300, reconnectDelay: 50 })
  const err = await ready(server).then(() => undefined, (e: Error) => e)
  t.match(err, { code: 'FST_AMQP_CONNECT_TIMEOUT' })
  t.match(err?.message, `127.0.0.1:${port}`)
  t.notMatch(err?.message, /s3cret/)
})

t.test('with only a named registration, app.amqp.<name> works and the default methods fail with FST_AMQP_NOT_REGISTERED', async (t) => {
  const { app: server, lines } = appWithLog()
  const exchange = uniqueName(t, 'x')
  t.teardown(async () => {
    await server.close()
    await deleteExchange(exchange)
  })
  const key = uniqueName(t)
  await server.register(warren, { url: AMQP_URL, name: 'events', exchange })
  const got = collector<WarrenMessage>(1)
  server.amqp.events.consume(key, async (msg) => { got.push(msg) }, { exclusive: true })
  await server.ready()
  await server.amqp.events.publish(key, 'hello')
  t.equal((await got.done)[0].body, 'hello')

  await t.rejects(server.amqp.publish(key, 'x'), { code: 'FST_AMQP_NOT_REGISTERED', message: /app\.amqp\.events/ })
  await t.rejects(server.amqp.request(key, 'x'), { code: 'FST_AMQP_NOT_REGISTERED' })
  await t.rejects(server.amqp.gather(key, 'x'), { code: 'FST_AMQP_NOT_REGISTERED' })
  t.throws(() => server.amqp.consume(key, async () => {}), { code: 'FST_AMQP_NOT_REGISTERED' })
  t.throws(() => server.amqp.health(), { code: 'FST_AMQP_NOT_REGISTERED' })
  t.throws(() => server.amqp.asyncapi(), { code: 'FST_AMQP_NOT_REGISTERED' })

  const ours = lines.map((l) => JSON.parse(l)).filter((l) => l.plugin === 'amqp')
  t.ok(ours.length > 0)
  t.ok(ours.every((l) => l.broker === 'events'), 'every log line of a named registration carries broker: <name>')
})

t.test('registering a name twice, or the default twice, is refused with FST_AMQP_INVALID_OPTION naming "name"', async (t) => {
  for (const name of [undefined, 'events']) {
    const { app: server, exchange } = app(t)
    await server.register(warren, { url: AMQP_URL, exchange, name })
    server.register(warren, { url: memoryUrl(t), name })
    await t.rejects(ready(server), { code: 'FST_AMQP_INVALID_OPTION', message: /"name"/ }, name ?? 'the default')
  }
})

t.test('a registration in an encapsulated plugin is seen there and by its children, not by its parent', async (t) => {
  const { app: server, exchange } = app(t)
  await server.register(warren, { url: AMQP_URL, exchange })
  let child: FastifyInstance | undefined
  await server.register(async (scope) => {
    await scope.register(warren, { url: memoryUrl(t), name: 'events' })
    await scope.register(async (inner) => { child = inner })
  })
  await server.ready()
  t.equal(server.amqp.events, undefined, 'the parent has no app.amqp.events')
  t.equal(typeof child?.amqp.events.publish, 'function', 'the encapsulated plugin\'s children have it')
  t.equal(typeof child?.amqp.publish, 'function', 'and the parent\'s default registration')
  t.equal(child?.amqp.health().status, 'ok')
})
