import t from 'tap'
import { Type } from '@sinclair/typebox'
import { z } from 'zod'
import * as v from 'valibot'
import { type } from 'arktype'
import { defineMessage, defineRequest, type Schema, type WarrenMessage } from '../lib/index'
import { admin, build, collector, uniqueName, waitFor } from './helpers'

/*
 * Run-time validation on both ends, for both schema families: JSON Schema
 * (TypeBox, plain) compiled with ajv, and Standard Schema (Zod, Valibot,
 * ArkType) through its own validate.
 */

const FAMILIES: Array<[string, Schema, Schema]> = [
  ['TypeBox', Type.Object({ id: Type.String(), total: Type.Number() }), Type.Object({ price: Type.Number() })],
  ['plain JSON Schema', { type: 'object', properties: { id: { type: 'string' }, total: { type: 'number' } }, required: ['id', 'total'] }, { type: 'object', properties: { price: { type: 'number' } }, required: ['price'] }],
  ['Zod', z.object({ id: z.string(), total: z.number() }), z.object({ price: z.number() })],
  ['Valibot', v.object({ id: v.string(), total: v.number() }), v.object({ price: v.number() })],
  ['ArkType', type({ id: 'string', total: 'number' }), type({ price: 'number' })]
]

for (const [family, body, reply] of FAMILIES) {
  t.test(`${family}: an invalid publish rejects with FST_AMQP_INVALID_MESSAGE and its errors, and nothing reaches the queue; a valid one is received`, async (t) => {
    const key = uniqueName(t)
    const { queues } = await admin(t)
    queues.push(key)
    const placed = defineMessage(key, { body })
    const app = await build(t, {}, { ready: false })
    const got = collector<unknown>(1)
    app.amqp.consume(placed, async (msg) => { got.push(msg.body) })
    await app.ready()
    const err: any = await app.amqp.publish(placed, { id: 'o-1', total: 'twelve' } as any).catch((e) => e)
    t.equal(err.code, 'FST_AMQP_INVALID_MESSAGE')
    t.equal(err.statusCode, 400)
    t.equal(err.validationContext, 'body')
    t.match(err.validation, [{ instancePath: '/total', message: String }], 'err.validation points at the field')
    await app.amqp.publish(placed, { id: 'o-2', total: 12.5 })
    t.same(await got.done, [{ id: 'o-2', total: 12.5 }], 'only the valid one arrived')
  })

  t.test(`${family}: an invalid message from a raw producer goes to the dead-letter queue with reason invalid and its errors, and the handler never runs`, async (t) => {
    const key = uniqueName(t)
    const { ch, queues, take } = await admin(t)
    queues.push(key)
    const placed = defineMessage(key, { body })
    const app = await build(t, {}, { ready: false })
    const seen: unknown[] = []
    const good = collector<unknown>(1)
    app.amqp.consume(placed, async (msg) => { seen.push(msg.body); good.push(msg.body) })
    await app.ready()
    ch.sendToQueue(key, Buffer.from(JSON.stringify({ id: 7 })), { contentType: 'application/json', messageId: 'bad' })
    ch.sendToQueue(key, Buffer.from(JSON.stringify({ id: 'ok', total: 1 })), { contentType: 'application/json' })
    await good.done
    const dead = await waitFor('the invalid message in the dead-letter queue', () => take(`${key}.dlq`))
    t.equal(dead.properties.messageId, 'bad')
    t.equal(dead.properties.headers?.['x-warren-reason'], 'invalid')
    t.match(dead.properties.headers?.['x-warren-error-code'], 'FST_AMQP_INVALID_MESSAGE')
    const issues = JSON.parse(String(dead.properties.headers?.['x-warren-validation']))
    t.ok(Array.isArray(issues) && issues.length > 0 && typeof issues[0].instancePath === 'string', 'x-warren-validation holds the errors as JSON')
    t.same(seen, [{ id: 'ok', total: 1 }], 'the handler saw only the valid message')
  })

  t.test(`${family}: a reply that fails its schema makes request() reject with FST_AMQP_INVALID_REPLY`, async (t) => {
    const key = uniqueName(t)
    const { queues } = await admin(t)
    queues.push(key)
    const quote = defineRequest(key, { body, reply })
    const app = await build(t, {}, { ready: false })
    // The server answers the routing key without the definition, so nothing stops its bad reply.
    app.amqp.consume(key, async (msg: WarrenMessage<any>) => msg.body.total > 0 ? { price: msg.body.total } : { price: 'free' })
    await app.ready()
    t.same(await app.amqp.request(quote, { id: 'a', total: 3 }), { price: 3 })
    const err: any = await app.amqp.request(quote, { id: 'b', total: 0 }).catch((e) => e)
    t.equal(err.code, 'FST_AMQP_INVALID_REPLY')
    t.equal(err.statusCode, 502)
    t.match(err.validation, [{ instancePath: '/price' }])
  })
}

t.test('an invalid request to a defined consumer gets an error reply naming FST_AMQP_INVALID_MESSAGE, with the errors', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const quote = defineRequest(key, { body: z.object({ sku: z.string(), qty: z.number().int().positive() }), reply: z.object({ price: z.number() }) })
  const app = await build(t, {}, { ready: false })
  let runs = 0
  app.amqp.consume(quote, async (msg) => { runs++; return { price: msg.body.qty * 2 } })
  await app.ready()
  t.same(await app.amqp.request(quote, { sku: 'A', qty: 2 }), { price: 4 })
  const err: any = await app.amqp.request(key, { sku: 'A', qty: -1 }).catch((e) => e)
  t.equal(err.code, 'FST_AMQP_RPC_REMOTE_ERROR')
  t.equal(err.remote.code, 'FST_AMQP_INVALID_MESSAGE')
  t.match(err.remote.validation, [{ instancePath: '/qty' }])
  t.equal(runs, 1, 'the handler ran only for the valid request')
})

t.test('a JSON Schema may $ref a schema added with app.addSchema(), on both ends', async (t) => {
  const key = uniqueName(t)
  const { ch, queues, take } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  app.addSchema({ $id: `${key}.Order`, type: 'object', properties: { id: { type: 'string' } }, required: ['id'] })
  const placed = defineMessage(key, { body: { $ref: `${key}.Order#` } })
  const got = collector<unknown>(1)
  app.amqp.consume(placed, async (msg) => { got.push(msg.body) })
  await app.ready()
  await t.rejects(app.amqp.publish(placed, { nope: 1 }), { code: 'FST_AMQP_INVALID_MESSAGE' })
  ch.sendToQueue(key, Buffer.from('{"id":5}'), { contentType: 'application/json' })
  await app.amqp.publish(placed, { id: 'o-1' })
  t.same(await got.done, [{ id: 'o-1' }])
  const dead = await waitFor('the raw invalid one in the dead-letter queue', () => take(`${key}.dlq`))
  t.equal(dead.properties.headers?.['x-warren-reason'], 'invalid')
})

t.test('headers are validated against the definition\'s headers schema on both ends', async (t) => {
  const key = uniqueName(t)
  const { ch, queues, take } = await admin(t)
  queues.push(key)
  const placed = defineMessage(key, { body: z.object({ n: z.number() }), headers: z.object({ tenant: z.string() }) })
  const app = await build(t, {}, { ready: false })
  const got = collector<string>(1)
  app.amqp.consume(placed, async (msg) => { got.push(msg.headers.tenant) })
  await app.ready()
  const err: any = await app.amqp.publish(placed, { n: 1 }).catch((e) => e)
  t.equal(err.code, 'FST_AMQP_INVALID_MESSAGE')
  t.equal(err.validationContext, 'headers')
  ch.sendToQueue(key, Buffer.from('{"n":1}'), { contentType: 'application/json', headers: { tenant: 5 } })
  await app.amqp.publish(placed, { n: 2 }, { headers: { tenant: 'acme' } })
  t.same(await got.done, ['acme'])
  const dead = await waitFor('the message with a bad header in the dead-letter queue', () => take(`${key}.dlq`))
  t.equal(dead.properties.headers?.['x-warren-reason'], 'invalid')
})

t.test('a per-call schema validates and types a string-key consumer, and options may come before the handler', async (t) => {
  const key = uniqueName(t)
  const { ch, queues, take } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  const got = collector<string>(1)
  app.amqp.consume(key, { schema: { body: z.object({ who: z.string() }) }, prefetch: 5 }, async (msg) => { got.push(msg.body.who) })
  await app.ready()
  ch.sendToQueue(key, Buffer.from('{"who":3}'), { contentType: 'application/json' })
  await app.amqp.publish(key, { who: 'ada' })
  t.same(await got.done, ['ada'])
  t.ok(await waitFor('the invalid one in the dead-letter queue', () => take(`${key}.dlq`)))
})

t.test('the handler gets the validated value: a Standard Schema\'s output, JSON Schema defaults filled in', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key, `${key}.2`)
  const app = await build(t, {}, { ready: false })
  const zod = defineMessage(key, { body: z.object({ at: z.string().transform((s) => new Date(s)) }) })
  const json = defineMessage(`${key}.2`, { body: { type: 'object', properties: { n: { type: 'number' }, unit: { type: 'string', default: 'kg' } }, required: ['n'] } })
  const got = collector<unknown>(2)
  app.amqp.consume(zod, async (msg) => { got.push(msg.body.at instanceof Date ? 'a Date' : 'not a Date') })
  app.amqp.consume(json, async (msg) => { got.push(msg.body) })
  await app.ready()
  await app.amqp.publish(zod, { at: '2026-12-03T10:00:00Z' })
  await app.amqp.publish(json, { n: 1 })
  t.same(new Set(await got.done), new Set(['a Date', { n: 1, unit: 'kg' }]))
})

t.test('gather() with a definition lists a reply that fails its schema in failed', async (t) => {
  const key = uniqueName(t)
  const exchange = uniqueName(t, 'x')
  const { queues, exchanges } = await admin(t)
  queues.push(`${key}.good`, `${key}.bad`)
  exchanges.push(exchange)
  const quote = defineRequest(key, { body: z.object({}), reply: z.object({ price: z.number() }) })
  const good = await build(t, { exchange, connectionName: 'good' }, { ready: false })
  const bad = await build(t, { exchange, connectionName: 'bad' }, { ready: false })
  good.amqp.consume(key, async () => ({ price: 1 }), { queue: `${key}.good` })
  bad.amqp.consume(key, async () => ({ price: 'x' }), { queue: `${key}.bad` })
  await Promise.all([good.ready(), bad.ready()])
  const result = await good.amqp.gather(quote, {}, { expect: ['good', 'bad'] })
  t.same(result.replies, [{ from: 'good', body: { price: 1 } }])
  t.match(result.failed, [{ from: 'bad', error: { code: 'FST_AMQP_INVALID_REPLY' } }])
  t.equal(result.complete, true)
})

t.test('publish() and request() refuse a definition of the other kind, and consume() a definition together with a schema', async (t) => {
  const app = await build(t)
  const msg = defineMessage('k', { body: z.object({}) })
  const req = defineRequest('k', { body: z.object({}), reply: z.object({}) })
  await t.rejects(app.amqp.publish(req as any, {}), { code: 'FST_AMQP_INVALID_ARGUMENT' })
  await t.rejects(app.amqp.request(msg as any, {}), { code: 'FST_AMQP_INVALID_ARGUMENT' })
  t.throws(() => app.amqp.consume(msg, async () => {}, { schema: { body: z.object({}) } } as any), { code: 'FST_AMQP_INVALID_ARGUMENT' })
  t.throws(() => defineMessage('k', { body: 42 as any }), { code: 'FST_AMQP_INVALID_ARGUMENT' })
  t.throws(() => app.amqp.consume('k.bad', async () => {}, { schema: { body: { type: 'nonsense' } } }), { code: 'FST_AMQP_INVALID_ARGUMENT' })
})

t.test('a pipeline stage given the next stage\'s definition validates its result: a valid one is forwarded, an invalid one dead-lettered with reason invalid-result', async (t) => {
  const key = uniqueName(t)
  const { queues, take } = await admin(t)
  queues.push(`${key}.a`, `${key}.b`)
  const a = defineMessage(`${key}.a`, { body: z.object({ n: z.number() }) })
  const b = defineMessage(`${key}.b`, { body: z.object({ doubled: z.number() }) })
  const app = await build(t, {}, { ready: false })
  const got = collector<number>(1)
  app.amqp.consume(a, async (msg) => msg.body.n >= 0 ? { doubled: msg.body.n * 2 } : ({ doubled: 'negative' } as any), { next: b })
  app.amqp.consume(b, async (msg) => { got.push(msg.body.doubled) })
  await app.ready()
  await app.amqp.publish(a, { n: -1 })
  await app.amqp.publish(a, { n: 21 })
  t.same(await got.done, [42], 'the valid result reached the next stage')
  const dead = await waitFor('the invalid result\'s message in the dead-letter queue', () => take(`${key}.a.dlq`))
  t.equal(dead.properties.headers?.['x-warren-reason'], 'invalid-result')
  t.same(JSON.parse(dead.content.toString()), { n: -1 }, 'the original message is kept, not the result')
  t.match(JSON.parse(String(dead.properties.headers?.['x-warren-validation'])), [{ instancePath: '/doubled' }])
  const doc = app.amqp.asyncapi() as any
  t.equal(doc.operations[`send.${key}.b`]?.action, 'send', 'the AsyncAPI document has the stage\'s send operation')
})
