import t from 'tap'
import type { FastifyInstance } from 'fastify'
import type { WarrenMessage } from '../lib/index'
import { admin, build, buildLogged, collector, ON_MEMORY, proxy, ready, uniqueName, waitFor } from './helpers'

/*
 * Stream consumers: where they start reading (first, a number, a time,
 * next), that a failed message is passed over (a stream has no retries), and
 * that a restarted connection resumes after the last message handled.
 * Streams are RabbitMQ's only: the memory broker refuses to declare one.
 */

const NOT_EMULATED = ON_MEMORY && 'streams are not emulated by the in-memory broker'

/** A stream of its own (deleted after the test), declared as a stream consumer declares it. */
async function stream (t: Parameters<typeof admin>[0]): Promise<string> {
  const name = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(name)
  await ch.assertQueue(name, { durable: true, arguments: { 'x-queue-type': 'stream' } })
  return name
}

/** Publishes each body to the stream through the default exchange, in order, confirmed. */
async function append (app: FastifyInstance, name: string, bodies: string[]): Promise<void> {
  for (const body of bodies) await app.amqp.publish(name, body, { exchange: '' })
}

/** What a stream consumer saw: bodies, with their offsets. */
interface Seen { body: string, offset: unknown }

function seen (msg: WarrenMessage<string>): Seen {
  return { body: msg.body, offset: msg.headers['x-stream-offset'] }
}

t.test('a stream consumer from "first" reads every message the stream holds, then new ones, each with its offset', { skip: NOT_EMULATED }, async (t) => {
  const name = await stream(t)
  const app = await build(t, {}, { ready: false })
  await app.ready()
  await append(app, name, ['a1', 'a2', 'a3'])
  const got = collector<Seen>(4)
  app.amqp.consume(name, async (msg: WarrenMessage<string>) => { got.push(seen(msg)) }, { exchange: '', queueType: 'stream', offset: 'first' })
  await waitFor('the consumer to start', () => app.amqp.health().consumers.running === 1)
  await append(app, name, ['b1'])
  t.same(await got.done, [
    { body: 'a1', offset: 0 }, { body: 'a2', offset: 1 }, { body: 'a3', offset: 2 }, { body: 'b1', offset: 3 }
  ])
  // The last handler has pushed, and is about to return.
  await waitFor('the last message to be handled', () => app.amqp.health().consumers.list[0].offset === 3)
  t.match(app.amqp.health().consumers.list, [{ queue: name, running: true, offset: 3, failed: 0 }], 'health() says where it is')
})

t.test('a stream consumer from an offset starts there', { skip: NOT_EMULATED }, async (t) => {
  const name = await stream(t)
  const app = await build(t, {}, { ready: false })
  await app.ready()
  await append(app, name, ['a1', 'a2', 'a3', 'a4'])
  const got = collector<Seen>(2)
  app.amqp.consume(name, async (msg: WarrenMessage<string>) => { got.push(seen(msg)) }, { exchange: '', queueType: 'stream', offset: 2 })
  t.same(await got.done, [{ body: 'a3', offset: 2 }, { body: 'a4', offset: 3 }])
})

t.test('a stream consumer from "next", the default, reads only what is published after it starts', { skip: NOT_EMULATED }, async (t) => {
  const name = await stream(t)
  const app = await build(t, {}, { ready: false })
  await app.ready()
  await append(app, name, ['a1', 'a2'])
  const got = collector<string>(2)
  app.amqp.consume(name, async (msg: WarrenMessage<string>) => { got.push(msg.body) }, { exchange: '', queueType: 'stream' })
  await waitFor('the consumer to start', () => app.amqp.health().consumers.running === 1)
  await append(app, name, ['b1', 'b2'])
  // A stream delivers in order: had a1 or a2 come, they would be before b1.
  t.same(await got.done, ['b1', 'b2'])
})

t.test('a stream consumer from a time reads what was written from that second on', { skip: NOT_EMULATED }, async (t) => {
  const name = await stream(t)
  const app = await build(t, {}, { ready: false })
  await app.ready()
  await append(app, name, ['a1', 'a2'])
  // Stream times are whole seconds: let one begin after the first batch was written.
  const confirmed = Date.now()
  await new Promise((resolve) => setTimeout(resolve, 1000 - (confirmed % 1000) + 20))
  const between = new Date()
  await append(app, name, ['b1', 'b2', 'b3'])
  const got = collector<string>(3)
  const bodies: string[] = []
  app.amqp.consume(name, async (msg: WarrenMessage<string>) => {
    bodies.push(msg.body)
    if (msg.body.startsWith('b')) got.push(msg.body)
  }, { exchange: '', queueType: 'stream', offset: between })
  t.same(await got.done, ['b1', 'b2', 'b3'], 'the second batch, in order')
  // A chunk is found by its first message's time: what comes before the second batch can only be the first one's.
  t.same(bodies.slice(-3), ['b1', 'b2', 'b3'], 'last')
  t.ok(bodies.slice(0, -3).every((b) => b.startsWith('a')), `and before it, at most messages of the first batch (${bodies.join(', ')})`)
})

t.test('a stream consumer whose handler throws logs it, counts it, and goes on with the next message: a stream has no retries', { skip: NOT_EMULATED }, async (t) => {
  const name = await stream(t)
  const { app, lines } = await buildLogged(t, {}, { ready: false })
  const got = collector<string>(3)
  app.amqp.consume(name, async (msg: WarrenMessage<string>) => {
    got.push(msg.body)
    if (msg.body === 'bad') throw new Error('cannot handle it')
  }, { exchange: '', queueType: 'stream', offset: 'first' })
  await app.ready()
  await append(app, name, ['good', 'bad', 'next'])
  t.same(await got.done, ['good', 'bad', 'next'], 'each handled once, in order')
  await waitFor('the failure to be counted', () => app.amqp.health().consumers.list[0].failed === 1)
  t.match(app.amqp.health().consumers.list, [{ running: true, offset: 2, failed: 1 }])
  t.ok(lines.some((l) => l.includes('stream message failed') && l.includes('cannot handle it')), 'the failure is logged with its error')
  t.equal(app.amqp.health().status, 'ok', 'and the connection is not closed for it (RabbitMQ closes it for a nack on a stream)')
})

t.test('a stream consumer whose connection is cut resumes after the last message it handled, not from its offset again', { skip: NOT_EMULATED }, async (t) => {
  const name = await stream(t)
  const p = await proxy(t)
  const publisher = await build(t)
  const app = await build(t, { url: p.url, reconnectDelay: 100 }, { ready: false })
  const got: Seen[] = []
  const three = collector<void>(3)
  const five = collector<void>(5)
  app.amqp.consume(name, async (msg: WarrenMessage<string>) => {
    got.push(seen(msg))
    three.push()
    five.push()
  }, { exchange: '', queueType: 'stream', offset: 'first' })
  await ready(app)
  await append(publisher, name, ['a1', 'a2', 'a3'])
  await three.done
  p.cut()
  await waitFor('the consumer to run again', () => app.amqp.health().status === 'ok' && app.amqp.health().consumers.running === 1)
  await append(publisher, name, ['b1', 'b2'])
  await five.done
  t.same(got.map((m) => m.body), ['a1', 'a2', 'a3', 'b1', 'b2'], 'nothing read twice, nothing skipped')
  t.same(got.map((m) => m.offset), [0, 1, 2, 3, 4])
})

t.test('a stream consumer from "next" that had received nothing when its connection was cut still gets what was published meanwhile', { skip: NOT_EMULATED }, async (t) => {
  const name = await stream(t)
  const p = await proxy(t)
  const publisher = await build(t)
  const app = await build(t, { url: p.url, reconnectDelay: 1000, reconnectDelayMax: 1000 }, { ready: false })
  const got = collector<string>(2)
  app.amqp.consume(name, async (msg: WarrenMessage<string>) => { got.push(msg.body) }, { exchange: '', queueType: 'stream' })
  await ready(app)
  p.cut()
  await waitFor('the consumer to be down', () => app.amqp.health().consumers.running === 0)
  // Published before it reconnects (reconnectDelay 1000 ms).
  await append(publisher, name, ['while-down'])
  await append(publisher, name, ['after'])
  t.same(await got.done, ['while-down', 'after'], 'the message published while it was away, then the next')
})

t.test('consume() with queueType "stream" fails to start on the memory broker, naming why', { skip: !ON_MEMORY && 'the memory broker only' }, async (t) => {
  const name = uniqueName(t)
  const app = await build(t, {}, { ready: false })
  app.amqp.consume(name, async () => {}, { exchange: '', queueType: 'stream' })
  await t.rejects(ready(app), { code: 'FST_AMQP_TOPOLOGY', message: /stream queues are not emulated by the in-memory broker/ })
})
