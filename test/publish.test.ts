import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { PublishReceipt } from '../lib/index'
import { admin, build, consumerApp, uniqueName, type TestLike } from './helpers'

t.test('publish() resolves once confirmed and the consumer receives the decoded JSON', async (t) => {
  const { app, key, got } = await consumerApp(t, 1)
  const receipt = await app.amqp.publish(key, { hello: 'world', n: 1 })
  t.type(receipt.messageId, 'string')
  const [msg] = await got.done
  t.same(msg.body, { hello: 'world', n: 1 })
  t.equal(msg.routingKey, key)
  t.equal(msg.properties.contentType, 'application/json')
  t.equal(msg.properties.messageId, receipt.messageId)
  t.equal(msg.properties.deliveryMode, 2, 'persistent by default')
  t.equal(msg.redelivered, false)
})

t.test('publish() sends strings as text and Buffers as bytes, each with a fitting content type', async (t) => {
  const { app, key, got } = await consumerApp(t, 2)
  await app.amqp.publish(key, 'plain words')
  await app.amqp.publish(key, Buffer.from([1, 2, 3]))
  const [text, bytes] = await got.done
  t.equal(text.body, 'plain words')
  t.match(text.properties.contentType, /^text\/plain/)
  t.ok(Buffer.isBuffer(bytes.body))
  t.same([...(bytes.body as Buffer)], [1, 2, 3])
  t.equal(bytes.properties.contentType, 'application/octet-stream')
})

t.test('publish() carries headers, message id, correlation id, priority, expiration and persistence', async (t) => {
  const { app, key, got } = await consumerApp(t, 1)
  const receipt = await app.amqp.publish(key, { a: 1 }, {
    headers: { tenant: 'acme' },
    messageId: 'order-42',
    correlationId: 'corr-7',
    priority: 3,
    expiration: 60000,
    persistent: false
  })
  t.equal(receipt.messageId, 'order-42')
  const [msg] = await got.done
  t.equal(msg.headers.tenant, 'acme')
  t.equal(msg.properties.messageId, 'order-42')
  t.equal(msg.properties.correlationId, 'corr-7')
  t.equal(msg.properties.priority, 3)
  t.equal(msg.properties.expiration, '60000')
  t.equal(msg.properties.deliveryMode, 1)
})

t.test('publish() rejects with FST_AMQP_UNROUTABLE when no queue is bound to the routing key', async (t) => {
  const app = await build(t)
  await t.rejects(app.amqp.publish(uniqueName(t), { lost: true }), { code: 'FST_AMQP_UNROUTABLE', statusCode: 502 })
  // The channel is still usable afterwards.
  await t.rejects(app.amqp.publish(uniqueName(t), { lost: true }), { code: 'FST_AMQP_UNROUTABLE' })
})

t.test('publish() with mandatory false resolves for a fire-and-forget event nobody listens to', async (t) => {
  const app = await build(t)
  const receipt = await app.amqp.publish(uniqueName(t), { event: 'ignored' }, { mandatory: false })
  t.type(receipt.messageId, 'string')
})

t.test('publish() to a missing exchange rejects with FST_AMQP_EXCHANGE_NOT_FOUND and other publishes still succeed', async (t) => {
  const { app, key, got } = await consumerApp(t, 1)
  const [missing, ok] = await Promise.allSettled([
    app.amqp.publish(key, 1, { exchange: uniqueName(t, 'missing') }),
    app.amqp.publish(key, 2)
  ])
  t.match(missing, { status: 'rejected', reason: { code: 'FST_AMQP_EXCHANGE_NOT_FOUND' } })
  t.equal(ok.status, 'fulfilled')
  t.same((await got.done).map((m) => m.body), [2])
})

t.test('publish() to the default exchange delivers straight to the queue named by the routing key', async (t) => {
  const app = await build(t)
  const { ch, queues } = await admin(t)
  const queue = uniqueName(t, 'q')
  queues.push(queue)
  await ch.assertQueue(queue, { durable: false })
  await app.amqp.publish(queue, { direct: true }, { exchange: '' })
  const msg = await ch.get(queue, { noAck: true })
  t.ok(msg)
  t.same(JSON.parse((msg as any).content.toString()), { direct: true })
})

t.test('publish() rejects bodies and arguments it cannot send with coded errors', async (t) => {
  const app = await build(t)
  const circular: any = {}
  circular.self = circular
  await t.rejects(app.amqp.publish('k', circular), { code: 'FST_AMQP_ENCODE' })
  await t.rejects(app.amqp.publish('k', { big: 1n }), { code: 'FST_AMQP_ENCODE' })
  await t.rejects(app.amqp.publish('k', undefined), { code: 'FST_AMQP_ENCODE' })
  await t.rejects(app.amqp.publish(42 as any, {}), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /routingKey/ })
  await t.rejects(app.amqp.publish('k', {}, { priority: 300 }), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /priority/ })
  await t.rejects(app.amqp.publish('k', {}, { expiration: -1 }), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /expiration/ })
  await t.rejects(app.amqp.publish('k', {}, { mandatory: 'yes' } as any), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /mandatory/ })
  await t.rejects(app.amqp.publish('k', {}, { exchnage: 'x' } as any), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /exchnage/ })
})

/** An app, a queue of its own on the default exchange, and a key nothing is bound to. */
async function routableAndNot (t: TestLike): Promise<{ app: FastifyInstance, key: string, nobody: string, queued: () => Promise<number> }> {
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  await ch.assertQueue(key, { durable: false })
  const app = await build(t)
  return { app, key, nobody: uniqueName(t, 'nobody'), queued: async () => (await ch.checkQueue(key)).messageCount }
}

/** Publishes one routable and one unroutable message at once; says how each ended. */
async function pairOutcome (routable: Promise<PublishReceipt>, unroutable: Promise<PublishReceipt>): Promise<{ routed: string, lost: string, id: string | undefined }> {
  const [routed, lost] = await Promise.allSettled([routable, unroutable])
  return {
    routed: routed.status,
    lost: lost.status === 'rejected' ? (lost.reason as any).code : 'resolved',
    id: routed.status === 'fulfilled' ? routed.value.messageId : undefined
  }
}

function eachOwnOutcome (t: Test, outcomes: Array<{ routed: string, lost: string }>): void {
  t.same(outcomes.filter((o) => o.routed !== 'fulfilled').length, 0, 'every routable publish resolved')
  t.same(outcomes.filter((o) => o.lost !== 'FST_AMQP_UNROUTABLE').length, 0, 'every unroutable one rejected with FST_AMQP_UNROUTABLE')
}

t.test('two mandatory publishes in flight with the same message id, one routable and one not, each get their own outcome', async (t) => {
  const { app, key, nobody, queued } = await routableAndNot(t)
  const outcomes = await Promise.all(Array.from({ length: 100 }, (_, i) => {
    const messageId = `order-${i}`
    return pairOutcome(app.amqp.publish(key, { i }, { exchange: '', messageId }), app.amqp.publish(nobody, { i }, { exchange: '', messageId }))
  }))
  eachOwnOutcome(t, outcomes)
  t.equal(await queued(), 100, 'and the 100 routable ones are in the queue')
})

t.test('a caller reusing the message id the plugin gave a publish still in flight gets its own outcome', async (t) => {
  const { app, key, nobody, queued } = await routableAndNot(t)
  // The plugin's ids are a per-process prefix and a counter: the next one is predictable.
  const { messageId: seen } = await app.amqp.publish(key, { i: -1 }, { exchange: '' })
  const next = (n: number): string => seen.slice(0, 12) + (parseInt(seen.slice(12), 36) + n).toString(36)
  const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    pairOutcome(app.amqp.publish(key, { i }, { exchange: '' }), app.amqp.publish(nobody, { i }, { exchange: '', messageId: next(2 * i + 1) }))))
  t.equal(outcomes.filter((o, i) => o.id === next(2 * i + 1)).length, 50, 'each unroutable publish reused the id of a routable one in flight')
  eachOwnOutcome(t, outcomes)
  t.equal(await queued(), 51, 'and the routable ones are in the queue')
})

t.test('publishing far faster than the socket drains adds no listeners per congestion: no MaxListenersExceededWarning', async (t) => {
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  await ch.assertQueue(key, { durable: false, arguments: { 'x-max-length': 10 } })
  const app = await build(t)
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(`${w.name}: ${w.message}`) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  // Each wave writes more frames in one turn than amqplib's channel buffer holds (1024 each side of its PassThrough), so the publisher waits for its drain again.
  for (let wave = 0; wave < 15; wave++) {
    await Promise.all(Array.from({ length: 5000 }, (_, i) => app.amqp.publish(key, { wave, i }, { exchange: '' })))
  }
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')), [], 'no listener leak warning')
})
