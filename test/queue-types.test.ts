import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import { waitQueueArguments } from '../lib/core/topology'
import { admin, build, buildLogged, collector, connectBroker, ready, uniqueName, waitFor } from './helpers'

/*
 * Quorum consumers on the broker: the queue, its wait queues and its
 * dead-letter queue are quorum queues, and a delivery limit bounds what the
 * plugin's retries cannot see (redeliveries after a crash or a lost channel),
 * dead-lettering past it to the consumer's dead-letter queue.
 */

/**
 * Whether `queue` exists declared exactly so: redeclaring it the same way
 * succeeds, any other way is refused (406). Resolves with true or the
 * broker's refusal.
 */
async function declaredAs (queue: string, args: Record<string, unknown> | undefined): Promise<true | string> {
  const conn = await connectBroker()
  try {
    const ch = await conn.createChannel()
    ch.on('error', () => {})
    await ch.assertQueue(queue, { durable: true, arguments: args })
    return true
  } catch (err) {
    return (err as Error).message
  } finally {
    await conn.close().catch(() => {})
  }
}

const QUORUM = { 'x-queue-type': 'quorum' }

/**
 * Waits until the plugin says it moved a message to the dead-letter queue,
 * then takes what it holds. Not before: RabbitMQ 3.10 closes the whole
 * connection (541, noproc) for a basic.get on a quorum queue that another
 * connection is still declaring.
 */
async function deadLettered (lines: string[], drain: (queue: string) => Promise<import('amqplib').GetMessage[]>, queue: string) {
  await waitFor('the message to be moved to the dead-letter queue', () => lines.some((l) => l.includes('moved to the dead-letter queue')))
  return waitFor('the message in the dead-letter queue', async () => {
    const got = await drain(queue)
    return got.length > 0 ? got : undefined
  })
}

t.test('a quorum consumer\'s queue, wait queues and dead-letter queue are quorum queues, the wait queues dead-lettering back at least once', async (t) => {
  const key = uniqueName(t)
  const { queues, drain } = await admin(t)
  queues.push(key)
  const { app, lines } = await buildLogged(t, {}, { ready: false })
  const attempts: number[] = []
  app.amqp.consume(key, async (msg: WarrenMessage) => {
    attempts.push(msg.attempt)
    throw new Error('always fails')
  }, { queueType: 'quorum', retry: { attempts: 3, delay: 10, jitter: 0 } })
  await app.ready()
  await app.amqp.publish(key, { n: 1 })
  const [dead] = await deadLettered(lines, drain, `${key}.dlq`)
  t.same(attempts, [1, 2, 3], 'retried through the quorum wait queues')
  t.match(dead.properties.headers, { 'x-warren-reason': 'handler-failed', 'x-warren-attempts': 3 })
  t.equal(await declaredAs(key, QUORUM), true, 'the queue is a quorum queue')
  t.equal(await declaredAs(`${key}.retry.1`, waitQueueArguments(key, 'quorum')), true, 'its first wait queue too, with at-least-once dead-lettering')
  t.equal(await declaredAs(`${key}.retry.2`, waitQueueArguments(key, 'quorum')), true, 'and its second')
  t.equal(await declaredAs(`${key}.dlq`, QUORUM), true, 'and its dead-letter queue')
})

t.test('the plugin-wide queueType makes named queues quorum queues and leaves an exclusive queue classic', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const app = await build(t, { queueType: 'quorum' }, { ready: false })
  const named = collector<unknown>(1)
  const exclusive = collector<unknown>(1)
  app.amqp.consume(key, async (msg: WarrenMessage) => { named.push(msg.body) })
  app.amqp.consume(key, async (msg: WarrenMessage) => { exclusive.push(msg.body) }, { exclusive: true })
  await app.ready()
  await app.amqp.publish(key, 'both')
  t.same(await named.done, ['both'])
  t.same(await exclusive.done, ['both'], 'the exclusive consumer started: its queue is classic')
  t.equal(await declaredAs(key, QUORUM), true, 'the named queue is a quorum queue')
})

t.test('a classic consumer declares its queue without x-queue-type: a queue declared without it stays equivalent, and a quorum consumer of it is refused', async (t) => {
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  await ch.assertQueue(key, { durable: true })
  const before = await build(t, {}, { ready: false })
  before.amqp.consume(key, async () => {})
  before.amqp.consume(uniqueName(t, 'explicit'), async () => {}, { queue: key + '.explicit', queueType: 'classic' })
  queues.push(key + '.explicit')
  await ready(before)
  t.pass('the default and an explicit classic start on it')
  t.equal(await declaredAs(key, undefined), true, 'still declared without x-queue-type')
  const quorum = await build(t, {}, { ready: false })
  quorum.amqp.consume(key, async () => {}, { queue: key, queueType: 'quorum' })
  await t.rejects(ready(quorum), { code: 'FST_AMQP_TOPOLOGY_MISMATCH', argument: 'x-queue-type' })
})

t.test('with a delivery limit of 1, a handler that throws is still tried retry.attempts times and dead-lettered by the plugin: its retries are not redeliveries', async (t) => {
  const key = uniqueName(t)
  const { queues, drain } = await admin(t)
  queues.push(key)
  const { app, lines } = await buildLogged(t, {}, { ready: false })
  const tries: Array<{ attempt: number, redelivered: boolean }> = []
  app.amqp.consume(key, async (msg: WarrenMessage) => {
    tries.push({ attempt: msg.attempt, redelivered: msg.redelivered })
    throw new Error('always fails')
  }, { queueType: 'quorum', deliveryLimit: 1, retry: { attempts: 4, delay: 10, jitter: 0 } })
  await app.ready()
  await app.amqp.publish(key, { n: 1 })
  const [dead] = await deadLettered(lines, drain, `${key}.dlq`)
  t.same(tries.map((x) => x.attempt), [1, 2, 3, 4], 'four tries, past a delivery limit of 1')
  t.ok(tries.every((x) => !x.redelivered), 'none of them a redelivery')
  t.match(dead.properties.headers, { 'x-warren-reason': 'handler-failed', 'x-warren-attempts': 4 }, 'dead-lettered by the plugin, with its headers')
})

t.test('a message redelivered more often than the delivery limit is dead-lettered by the broker to the consumer\'s dead-letter queue, with reason delivery_limit', async (t) => {
  const key = uniqueName(t)
  const { ch, queues, take, exists } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  const consumer = app.amqp.consume(key, async () => {}, { queueType: 'quorum', deliveryLimit: 2 })
  await app.ready()
  t.ok(await exists(`${key}.dlq`), 'the dead-letter queue exists as soon as the consumer starts')
  // Another client takes the messages and puts them back, as a consumer that crashes would.
  await consumer.cancel()
  const deliveries: boolean[] = []
  await ch.prefetch(1)
  await ch.consume(key, (m) => {
    if (m === null) return
    deliveries.push(m.fields.redelivered)
    ch.nack(m, false, true)
  })
  const { messageId } = await app.amqp.publish(key, { poison: true })
  const dead = await waitFor('the message in the dead-letter queue', () => take(`${key}.dlq`))
  t.same(deliveries, [false, true, true], 'delivered, then redelivered twice: the limit')
  t.equal(dead.properties.messageId, messageId, 'the message itself')
  t.same(JSON.parse(dead.content.toString()), { poison: true })
  t.equal(dead.properties.headers?.['x-first-death-reason'], 'delivery_limit', 'dead-lettered for its delivery limit')
  t.match(dead.properties.headers?.['x-death'], [{ reason: 'delivery_limit', queue: key, count: 1 }])
  t.equal(dead.properties.headers?.['x-warren-reason'], undefined, 'by the broker, not the plugin')
  t.equal(await declaredAs(key, { ...QUORUM, 'x-delivery-limit': 2, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': `${key}.dlq` }), true, 'the queue routes its dead letters to the dead-letter queue')
})

t.test('a quorum consumer whose wait queue exists as a classic queue uses it as it is, and warns', async (t) => {
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  // Declared as earlier versions declared a wait queue of a quorum queue.
  await ch.assertQueue(`${key}.retry.1`, { durable: true, arguments: waitQueueArguments(key, 'classic') })
  const { app, lines } = await buildLogged(t, {}, { ready: false })
  const tries = collector<number>(2)
  app.amqp.consume(key, async (msg: WarrenMessage) => {
    tries.push(msg.attempt)
    if (msg.attempt === 1) throw new Error('fails once')
  }, { queueType: 'quorum', retry: { attempts: 2, delay: 10, jitter: 0 } })
  await app.ready()
  await app.amqp.publish(key, { n: 1 })
  t.same(await tries.done, [1, 2], 'retried through the classic wait queue')
  t.ok(lines.some((l) => l.includes('exists as a classic queue')), 'with a warning that says what to do')
  t.equal(await declaredAs(`${key}.retry.1`, waitQueueArguments(key, 'classic')), true, 'left as it was')
  t.equal(app.amqp.health().status, 'ok')
})

t.test('the AsyncAPI document shows a quorum consumer\'s queue arguments and its quorum dead-letter queue', async (t) => {
  const key = uniqueName(t)
  const app = await build(t, {}, { ready: false })
  app.amqp.consume(key, async () => {}, { queueType: 'quorum', deliveryLimit: 5 })
  const doc = app.amqp.asyncapi() as any
  const queue = Object.values(doc.channels).find((c: any) => c.address === key) as any
  t.same(queue.bindings.amqp['x-arguments'], { 'x-queue-type': 'quorum', 'x-delivery-limit': 5, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': `${key}.dlq` })
  t.match(queue.description, /^A quorum queue\./)
  const dlq = Object.values(doc.channels).find((c: any) => c.address === `${key}.dlq`) as any
  t.same(dlq.bindings.amqp['x-arguments'], { 'x-queue-type': 'quorum' })
})
