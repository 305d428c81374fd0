import { describe, expect, test } from 'tstyche'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import { z } from 'zod'
import * as v from 'valibot'
import { type } from 'arktype'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { defineMessage, defineRequest, type Consumer, type OutputOf, type PublishReceipt, type GatherResult, type WarrenMessage } from '../../lib/index'

const app = Fastify()

describe('TypeBox', () => {
  const orderPlaced = defineMessage('orders.placed', { body: Type.Object({ id: Type.String(), total: Type.Number() }) })
  const quote = defineRequest('pricing.quote', { body: Type.Object({ sku: Type.String() }), reply: Type.Object({ price: Type.Number() }) })

  test('msg.body is the schema\'s static type, and an unknown field does not compile', () => {
    app.amqp.consume(orderPlaced, async (msg) => {
      expect(msg.body).type.toBe<{ id: string, total: number }>()
      // @ts-expect-error Property 'unknownField' does not exist
      msg.body.unknownField // eslint-disable-line @typescript-eslint/no-unused-expressions
    })
  })
  test('publish() takes the body the schema describes, and nothing else', () => {
    expect(app.amqp.publish(orderPlaced, { id: 'o', total: 1 })).type.toBe<Promise<PublishReceipt>>()
    expect(app.amqp.publish).type.not.toBeCallableWith(orderPlaced, { id: 'o', total: '1' })
    expect(app.amqp.publish).type.not.toBeCallableWith(orderPlaced, { id: 'o' })
  })
  test('request() resolves with the reply\'s type, and the handler must return it', () => {
    expect(app.amqp.request(quote, { sku: 'a' })).type.toBe<Promise<{ price: number }>>()
    expect(app.amqp.consume(quote, async () => ({ price: 1 }))).type.toBe<Consumer>()
    expect(app.amqp.consume).type.not.toBeCallableWith(quote, async () => ({ price: 'free' }))
  })
})

describe('Zod', () => {
  const quote = defineRequest('pricing.quote', {
    body: z.object({ sku: z.string(), qty: z.number().int().positive() }),
    reply: z.object({ price: z.number(), at: z.string().transform((s) => new Date(s)) })
  })
  test('the handler sees the output type, request() resolves with the reply\'s output type', () => {
    app.amqp.consume(quote, async (msg) => {
      expect(msg.body).type.toBe<{ sku: string, qty: number }>()
      return { price: msg.body.qty * 2, at: '2026-12-03' }
    })
    expect(app.amqp.request(quote, { sku: 'A', qty: 2 })).type.toBe<Promise<{ price: number, at: Date }>>()
    expect(app.amqp.gather(quote, { sku: 'A', qty: 2 })).type.toBe<Promise<GatherResult<{ price: number, at: Date }>>>()
  })
  test('a wrong body, a missing field and a wrong reply do not compile', () => {
    expect(app.amqp.request).type.not.toBeCallableWith(quote, { sku: 'A', qty: '2' })
    expect(app.amqp.request).type.not.toBeCallableWith(quote, { sku: 'A' })
    expect(app.amqp.consume).type.not.toBeCallableWith(quote, async () => ({ price: 1, at: new Date() }))
  })
  test('headers are typed from their schema', () => {
    const audited = defineMessage('audited', { body: z.object({}), headers: z.object({ tenant: z.string() }) })
    app.amqp.consume(audited, (msg) => { expect(msg.headers.tenant).type.toBe<string>() })
    expect(app.amqp.publish).type.not.toBeCallableWith(audited, {}, { headers: { tenant: 1 } })
  })
})

describe('Valibot and ArkType', () => {
  test('msg.body is the schema\'s output', () => {
    const vm = defineMessage('v', { body: v.object({ n: v.number() }) })
    const am = defineMessage('a', { body: type({ n: 'number' }) })
    app.amqp.consume(vm, (msg) => { expect(msg.body).type.toBe<{ n: number }>() })
    app.amqp.consume(am, (msg) => { expect(msg.body).type.toBe<{ n: number }>() })
    expect(app.amqp.publish).type.not.toBeCallableWith(vm, { n: 'x' })
    expect(app.amqp.publish).type.not.toBeCallableWith(am, {})
  })
})

describe('plain JSON Schema', () => {
  const plain = defineMessage('plain', { body: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'], additionalProperties: false } })
  test('with a type provider, msg.body comes from it', () => {
    const typed = app.withTypeProvider<JsonSchemaToTsProvider>()
    expect<OutputOf<typeof plain['body'], JsonSchemaToTsProvider>>().type.toBe<{ n: number }>()
    typed.amqp.consume(plain, async (msg) => {
      const n: number = msg.body.n
      // @ts-expect-error Property 'unknownField' does not exist
      return n + msg.body.unknownField
    })
    expect(typed.amqp.publish).type.not.toBeCallableWith(plain, { n: 'x' })
    expect(typed.amqp.publish(plain, { n: 1 })).type.toBe<Promise<PublishReceipt>>()
  })
  test('without one, msg.body is unknown, never any', () => {
    app.amqp.consume(plain, async (msg) => { expect(msg.body).type.toBe<unknown>() })
  })
})

describe('per-call schema', () => {
  test('a consumer of a routing key is typed from options.schema, with the options before or after the handler', () => {
    app.amqp.consume('audit', async (msg) => { expect(msg.body).type.toBe<{ who: string }>() }, { schema: { body: z.object({ who: z.string() }) } })
    app.amqp.consume('audit', { schema: { body: z.object({ who: z.string() }) } }, async (msg) => { expect(msg.body).type.toBe<{ who: string }>() })
  })
})

describe('string routing keys', () => {
  test('msg.body is unknown unless typed, and an unknown field does not compile', () => {
    app.amqp.consume('k', async (msg) => {
      expect(msg.body).type.toBe<unknown>()
      // @ts-expect-error 'msg.body' is of type 'unknown'
      msg.body.unknownField // eslint-disable-line @typescript-eslint/no-unused-expressions
    })
    app.amqp.consume('k', async (msg: WarrenMessage<{ n: number }>) => { expect(msg.body.n).type.toBe<number>() })
    app.amqp.consume<{ n: number }>('k', async (msg) => { expect(msg.body).type.toBe<{ n: number }>() })
  })
  test('request() resolves with unknown unless typed', () => {
    expect(app.amqp.request('k', {})).type.toBe<Promise<unknown>>()
    expect(app.amqp.request<{ price: number }>('k', {})).type.toBe<Promise<{ price: number }>>()
    expect(app.amqp.publish('k', { any: 'thing' })).type.toBe<Promise<PublishReceipt>>()
  })
})

describe('pipeline stages', () => {
  const a = defineMessage('a', { body: z.object({ n: z.number() }) })
  const b = defineMessage('b', { body: z.object({ doubled: z.number() }) })
  test('with the next stage\'s definition, the handler must return its body (or undefined)', () => {
    expect(app.amqp.consume(a, async (msg) => ({ doubled: msg.body.n * 2 }), { next: b })).type.toBe<Consumer>()
    expect(app.amqp.consume(a, async () => undefined, { next: b })).type.toBe<Consumer>()
    expect(app.amqp.consume).type.not.toBeCallableWith(a, async () => ({ doubled: 'x' }), { next: b })
  })
})
