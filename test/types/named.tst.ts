import { describe, expect, test } from 'tstyche'
import Fastify from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import warren, { defineMessage, type Amqp, type PublishReceipt } from '../../lib/index'

// How an app declares its named registrations: by augmenting the package.
declare module 'fastify-warren' {
  interface AmqpRegistrations { events: true }
}

const app = Fastify()

describe('app.amqp.<name>', () => {
  test('a declared name is the full API, read-only', () => {
    expect(app.amqp.events).type.toBe<Amqp>()
    expect(app.amqp.events.publish('k', { n: 1 })).type.toBe<Promise<PublishReceipt>>()
    // @ts-expect-error Cannot assign to 'events' because it is a read-only property
    app.amqp.events = app.amqp
  })

  test('a name not declared does not compile', () => {
    expect(app.amqp).type.not.toHaveProperty('nope')
    // @ts-expect-error Property 'nope' does not exist
    app.amqp.nope.publish('k', {})
  })

  test('the default registration is typed as before', () => {
    expect(app.amqp.publish('k', { n: 1 })).type.toBe<Promise<PublishReceipt>>()
    expect(app.amqp.health().status).type.toBe<'ok' | 'degraded' | 'down'>()
  })

  test('a named registration follows the instance\'s type provider, as the default one does', () => {
    const plain = defineMessage('plain', { body: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'], additionalProperties: false } })
    const typed = app.withTypeProvider<JsonSchemaToTsProvider>()
    typed.amqp.events.consume(plain, async (msg) => { expect(msg.body).type.toBe<{ n: number }>() })
    expect(typed.amqp.events.publish).type.not.toBeCallableWith(plain, { n: 'x' })
    app.amqp.events.consume(plain, async (msg) => { expect(msg.body).type.toBe<unknown>() })
  })
})

describe('the name option', () => {
  test('is a string', () => {
    expect(app.register).type.toBeCallableWith(warren, { url: 'amqp://localhost', name: 'events' })
    expect(app.register).type.not.toBeCallableWith(warren, { url: 'amqp://localhost', name: 1 })
  })
})
