import { expect, test } from 'tstyche'
import Fastify from 'fastify'
import warren, { createWarren } from '../../lib/index'

const app = Fastify()
const url = 'amqp://localhost'

test('coalesceWrites is a boolean, for the plugin and for createWarren()', () => {
  expect(app.register).type.toBeCallableWith(warren, { url, coalesceWrites: false })
  expect(app.register).type.toBeCallableWith(warren, { url, coalesceWrites: true })
  expect(app.register).type.not.toBeCallableWith(warren, { url, coalesceWrites: 'false' })
  expect(app.register).type.not.toBeCallableWith(warren, { url, coalesceWrites: 0 })
  expect(createWarren).type.toBeCallableWith({ url, coalesceWrites: false })
  expect(createWarren).type.not.toBeCallableWith({ url, coalesceWrites: 'no' })
})
