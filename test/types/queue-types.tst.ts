import { describe, expect, test } from 'tstyche'
import Fastify from 'fastify'
import warren, { type ConsumeOptions, type ConsumerHealth } from '../../lib/index'

/*
 * The queue options' types. The offset is typed on every consumer and
 * checked at run time against the queue type: a union of consumer options
 * per queue type would not survive the Omit<> and intersections the
 * consume() overloads are built from.
 */

const app = Fastify()
const handler = async () => {}

describe('queueType', () => {
  test('is classic, quorum or stream per consumer', () => {
    expect(app.amqp.consume).type.toBeCallableWith('k', handler, { queueType: 'classic' })
    expect(app.amqp.consume).type.toBeCallableWith('k', handler, { queueType: 'quorum' })
    expect(app.amqp.consume).type.toBeCallableWith('k', { queueType: 'stream' }, handler)
    expect(app.amqp.consume).type.not.toBeCallableWith('k', handler, { queueType: 'lazy' })
  })
  test('is classic or quorum as the plugin\'s default: streams are per consumer', () => {
    expect(app.register).type.toBeCallableWith(warren, { url: 'amqp://localhost', queueType: 'quorum' })
    expect(app.register).type.toBeCallableWith(warren, { url: 'amqp://localhost', queueType: 'classic' })
    expect(app.register).type.not.toBeCallableWith(warren, { url: 'amqp://localhost', queueType: 'stream' })
  })
})

describe('deliveryLimit, singleActiveConsumer and priority', () => {
  test('take a number, a boolean and a number', () => {
    expect(app.amqp.consume).type.toBeCallableWith('k', handler, { queueType: 'quorum', deliveryLimit: 5, singleActiveConsumer: true, priority: 10 })
    expect(app.amqp.consume).type.not.toBeCallableWith('k', handler, { deliveryLimit: '5' })
    expect(app.amqp.consume).type.not.toBeCallableWith('k', handler, { singleActiveConsumer: 1 })
    expect(app.amqp.consume).type.not.toBeCallableWith('k', handler, { priority: 'high' })
  })
})

describe('offset', () => {
  test('is first, last, next, a number or a Date', () => {
    for (const offset of ['first', 'last', 'next', 42, new Date()] as const) {
      expect(app.amqp.consume).type.toBeCallableWith('k', handler, { queueType: 'stream', offset })
    }
    expect<ConsumeOptions['offset']>().type.toBe<'first' | 'last' | 'next' | number | Date | undefined>()
    expect(app.amqp.consume).type.not.toBeCallableWith('k', handler, { queueType: 'stream', offset: 'earliest' })
    expect(app.amqp.consume).type.not.toBeCallableWith('k', handler, { queueType: 'stream', offset: true })
    expect(app.amqp.consume).type.not.toBeCallableWith('k', handler, { queueType: 'stream', offset: 10n })
  })
})

describe('health()', () => {
  test('a stream consumer\'s offset and failures are optional numbers', () => {
    expect<ConsumerHealth['offset']>().type.toBe<number | undefined>()
    expect<ConsumerHealth['failed']>().type.toBe<number | undefined>()
  })
})
