import { describe, expect, test } from 'tstyche'
import Fastify, { type FastifyBaseLogger } from 'fastify'
import type { MessageProperties, WarrenMessage } from '../../lib/index'

const app = Fastify()

describe('msg.log', () => {
  test('is a Fastify logger, read-only, on every message', () => {
    app.amqp.consume('k', async (msg) => {
      expect(msg.log).type.toBe<FastifyBaseLogger>()
      msg.log.info({ step: 'saved' }, 'order saved')
      // @ts-expect-error Cannot assign to 'log' because it is a read-only property
      msg.log = app.log
    })
    expect<WarrenMessage<{ n: number }>['log']>().type.toBe<FastifyBaseLogger>()
  })
})

describe('msg.properties', () => {
  test('is the plugin\'s own type, each property possibly absent', () => {
    app.amqp.consume('k', async (msg) => {
      expect(msg.properties).type.toBe<MessageProperties>()
      expect(msg.properties.messageId).type.toBe<string | undefined>()
      expect(msg.properties.timestamp).type.toBe<number | undefined>()
    })
  })
})
