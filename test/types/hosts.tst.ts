import { expect, test } from 'tstyche'
import express from 'express'
import { createWarren, type WarrenClient, type Health, type PublishReceipt, type Consumer } from '../../lib/index'
import { warrenErrorHandler, warrenHealth, warrenMiddleware } from '../../lib/express'

test('createWarren() takes the plugin options and a logger, and gives a client', () => {
  const warren = createWarren({ url: 'amqp://127.0.0.1', logger: console })
  expect(warren).type.toBe<WarrenClient>()
  expect(warren.start()).type.toBe<Promise<void>>()
  expect(warren.close()).type.toBe<Promise<void>>()
  expect(warren.health()).type.toBe<Health>()
  expect(warren.publish('k', { a: 1 })).type.toBe<Promise<PublishReceipt>>()
  expect(warren.request<number>('k', {})).type.toBe<Promise<number>>()
  expect(warren.consume('k', async () => {})).type.toBe<Consumer>()
  expect(createWarren).type.not.toBeCallableWith({ url: 'amqp://127.0.0.1', prefetch: '10' })
  expect(createWarren).type.not.toBeCallableWith({ url: 'amqp://127.0.0.1', logger: 'console' })
  expect(createWarren).type.not.toBeCallableWith({})
})

test('req.amqp is the client in an Express app that imports fastify-warren/express', () => {
  const warren = createWarren({ url: 'amqp://127.0.0.1' })
  const app = express()
  app.use(warrenMiddleware(warren))
  app.get('/health', warrenHealth(warren))
  app.post('/orders', (req) => {
    expect(req.amqp).type.toBe<WarrenClient>()
  })
  app.use(warrenErrorHandler())
  expect(warrenMiddleware).type.not.toBeCallableWith({})
})
