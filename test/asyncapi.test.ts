import t from 'tap'
import { Type } from '@sinclair/typebox'
import { z } from 'zod'
import * as v from 'valibot'
import { toStandardJsonSchema } from '@valibot/to-json-schema'
import { Parser } from '@asyncapi/parser'
import { defineMessage, defineRequest } from '../lib/index'
import { AMQP_URL, admin, build, ready, uniqueName } from './helpers'

/** The document's errors, as @asyncapi/parser finds them (severity 0). */
async function errorsOf (doc: unknown): Promise<string[]> {
  const { diagnostics } = await new Parser().parse(JSON.stringify(doc))
  return diagnostics.filter((d) => d.severity === 0).map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`)
}

t.test('the AsyncAPI document parses without errors and describes the server, the channels, the operations, the payloads and the AMQP bindings', async (t) => {
  const exchange = uniqueName(t, 'x')
  const { exchanges } = await admin(t)
  exchanges.push(exchange)
  const orderPlaced = defineMessage('orders.placed', { body: Type.Object({ id: Type.String(), total: Type.Number() }), summary: 'An order was placed', exchange })
  const quote = defineRequest('pricing.quote', { body: z.object({ sku: z.string(), qty: z.number().int().positive() }), reply: z.object({ price: z.number() }) })
  const url = new URL(AMQP_URL)
  url.password = 'secret-password'
  const app = await build(t, { url: AMQP_URL, exchange, connectionName: 'shop', publishes: [orderPlaced, quote], asyncapi: { title: 'Shop', version: '2.1.0' } }, { ready: false })
  app.amqp.consume(orderPlaced, async () => {}, { queue: uniqueName(t, 'billing'), queueArguments: { 'x-max-length': 1000 } })
  app.amqp.consume(quote, async () => ({ price: 1 }), { queue: uniqueName(t, 'pricing') })
  app.amqp.consume('audit.*', async () => {}, { exclusive: true, schema: { body: z.object({ who: z.string() }) } })
  const doc = app.amqp.asyncapi() as any

  t.same(await errorsOf(doc), [], 'no errors')
  t.match(doc, { asyncapi: '3.0.0', info: { title: 'Shop', version: '2.1.0' } })
  t.match(doc.servers.rabbitmq, { host: `${url.hostname}:${url.port || 5672}`, protocol: 'amqp' })
  t.notOk(JSON.stringify(doc).includes('guest:'), 'no credentials')

  // The published definitions: send operations on their exchange and routing key.
  const send = doc.operations['send.orders.placed']
  t.match(send, { action: 'send', bindings: { amqp: { deliveryMode: 2, mandatory: true } } })
  const route = doc.channels[send.channel.$ref.split('/').pop()]
  t.match(route, { address: 'orders.placed', bindings: { amqp: { is: 'routingKey', exchange: { name: exchange, type: 'topic', durable: true } } } })
  t.match(doc.components.messages['orders.placed'], { summary: 'An order was placed', payload: { type: 'object', properties: { id: { type: 'string' }, total: { type: 'number' } }, required: ['id', 'total'] } })
  t.equal(JSON.stringify(doc.components.messages['orders.placed'].payload).includes('Symbol'), false, 'TypeBox\'s symbols are left out')

  // The request: its reply through direct reply-to, on both the send and the receive side.
  t.match(doc.operations['send.pricing.quote'].reply, { address: { location: '$message.header#/reply_to' } })
  t.match(doc.components.messages['pricing.quote'].payload, { type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'integer' } } })
  t.match(doc.components.messages['pricing.quote.reply'].payload, { properties: { price: { type: 'number' } } })

  // Each consumer: a receive operation on its queue, with the queue's binding, arguments, and its dead-letter queue described.
  const receives = Object.values(doc.operations).filter((o: any) => o.action === 'receive') as any[]
  t.equal(receives.length, 3, 'a receive operation per consumer')
  const billing = Object.values(doc.channels).find((c: any) => c.bindings?.amqp?.queue?.name?.includes('billing') && !c.address.endsWith('.dlq')) as any
  t.match(billing.bindings.amqp, { is: 'queue', queue: { durable: true, exclusive: false }, 'x-arguments': { 'x-max-length': 1000 } })
  t.match(billing.description, /dead-letter queue/)
  t.ok(Object.values(doc.channels).some((c: any) => typeof c.address === 'string' && c.address.endsWith('.dlq') && c.address.includes('billing')), 'the dead-letter queue has a channel')
  const audit = receives.find((o) => o.channel.$ref.includes('exclusive'))
  t.ok(audit, 'the exclusive consumer too')
  t.match(doc.components.messages['audit.*.message'] ?? Object.values(doc.components.messages).find((m: any) => m.payload?.properties?.who), { payload: { properties: { who: { type: 'string' } } } })
})

t.test('a Standard Schema without a JSON Schema export is documented as an empty payload with a note; Valibot wrapped with toStandardJsonSchema() is described', async (t) => {
  const plain = defineMessage('v.plain', { body: v.object({ n: v.number() }) })
  const wrapped = defineMessage('v.wrapped', { body: toStandardJsonSchema(v.object({ n: v.number() })) })
  const app = await build(t, { publishes: [plain, wrapped] })
  const doc = app.amqp.asyncapi() as any
  t.same(await errorsOf(doc), [])
  t.same(doc.components.messages['v.plain'].payload, {})
  t.match(doc.components.messages['v.plain'].description, /toStandardJsonSchema/)
  t.match(doc.components.messages['v.wrapped'].payload, { properties: { n: { type: 'number' } } })
})

t.test('schemas added with app.addSchema() and $ref-ed by a definition go into the document\'s components', async (t) => {
  const id = `${uniqueName(t)}.Order`
  const placed = defineMessage('orders.ref', { body: { type: 'object', properties: { order: { $ref: `${id}#` } } } })
  const app = await build(t, { publishes: [placed] }, { ready: false })
  app.addSchema({ $id: id, type: 'object', properties: { id: { type: 'string' } } })
  await app.ready()
  const doc = app.amqp.asyncapi() as any
  t.same(await errorsOf(doc), [])
  const key = Object.keys(doc.components.schemas)[0]
  t.match(doc.components.messages['orders.ref'].payload.properties.order, { $ref: `#/components/schemas/${key}` })
})

t.test('the asyncapi option serves the JSON at <path>.json and a page at <path>; without it, nothing is served', async (t) => {
  const placed = defineMessage('orders.served', { body: Type.Object({ id: Type.String() }) })
  const app = await build(t, { publishes: [placed], asyncapi: { path: '/docs/amqp', ui: { script: '/static/asyncapi.js', stylesheet: '/static/asyncapi.css' } } })
  const json = await app.inject('/docs/amqp.json')
  t.equal(json.statusCode, 200)
  t.match(json.json(), { asyncapi: '3.0.0', operations: { 'send.orders.served': { action: 'send' } } })
  const page = await app.inject('/docs/amqp')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.body, /<script src="\/static\/asyncapi\.js"><\/script>/)
  t.match(page.body, /\/docs\/amqp\.json/)

  const plain = await build(t, { asyncapi: true })
  t.equal((await plain.inject('/asyncapi.json')).statusCode, 200, 'true serves it at /asyncapi')
  t.match((await plain.inject('/asyncapi')).body, /unpkg\.com\/@asyncapi\/react-component@3\.2\.1/, 'from a CDN by default')
  const off = await build(t)
  t.equal((await off.inject('/asyncapi.json')).statusCode, 404, 'off by default')
})

t.test('bad publishes and asyncapi options fail registration with FST_AMQP_INVALID_OPTION naming them', async (t) => {
  for (const [opts, field] of [
    [{ publishes: 'orders' }, 'publishes'],
    [{ publishes: [{ routingKey: 'x' }] }, 'publishes[0]'],
    [{ asyncapi: 'yes' }, 'asyncapi'],
    [{ asyncapi: { path: 'docs' } }, 'asyncapi.path'],
    [{ asyncapi: { colour: 'red' } }, 'asyncapi.colour'],
    [{ asyncapi: { ui: { script: 3 } } }, 'asyncapi.ui.script']
  ] as const) {
    const app = (await import('fastify')).default()
    app.register((await import('../lib/index')).default, { url: AMQP_URL, ...opts } as any)
    await t.rejects(ready(app), { code: 'FST_AMQP_INVALID_OPTION', message: new RegExp(`"${field.replace(/[.[\]]/g, '\\$&')}"`) }, field)
  }
})
