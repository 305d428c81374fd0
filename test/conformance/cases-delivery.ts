import type { ConsumeMessage, GetMessage } from 'amqplib'
import type { Case } from './cases'
import type { Broker } from './brokers'
import { bodies, body, channel, channelError, confirmChannel, inbox, propertiesView, publishAll, within } from './observe'

/** A queue holding m1…m`n`, and a confirm channel. */
async function filled (b: Broker, n: number) {
  const conn = await b.connect()
  const ch = await confirmChannel(conn)
  const q = b.unique('q')
  await ch.assertQueue(q, { durable: false })
  await publishAll(ch, '', q, Array.from({ length: n }, (_, i) => `m${i + 1}`))
  return { conn, ch, q }
}

export const deliveryCases: Case[] = [
  {
    name: 'an unroutable mandatory message is returned before its publish is confirmed',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const x = b.unique('x')
      const q = b.unique('q')
      await ch.assertExchange(x, 'direct', { durable: false })
      await ch.assertQueue(q, { durable: false })
      await ch.bindQueue(q, x, 'bound')
      const events: unknown[] = []
      ch.on('return', (m) => events.push({ event: 'return', fields: m.fields, body: body(m), properties: propertiesView(m) }))
      const publish = (key: string, mandatory: boolean) => ch.publish(x, key, Buffer.from(key), { mandatory, messageId: key, headers: { n: 1 } }, (err) => events.push(`confirm ${key}: ${err ? 'nack' : 'ack'}`))
      publish('bound', true)
      publish('unbound', true)
      publish('unbound-not-mandatory', false)
      await within(ch.waitForConfirms(), 'confirms')
      return events
    },
    expect: [
      'confirm bound: ack',
      {
        event: 'return',
        fields: { replyCode: 312, replyText: 'NO_ROUTE', exchange: '<x>', routingKey: 'unbound' },
        body: 'unbound',
        properties: { headers: { n: 1 }, messageId: 'unbound' }
      },
      'confirm unbound: ack',
      'confirm unbound-not-mandatory: ack'
    ]
  },
  {
    name: 'a message comes back with its properties and typed header values as amqplib decodes them',
    async run (b) {
      const { ch, q } = await filled(b, 0)
      const headers = { s: 'x', i: 1, neg: -300, big: 2 ** 40, f: 1.5, b: false, n: null, arr: [1, 'a', true], nested: { a: { b: 2 } }, buf: Buffer.from('hi') }
      const properties = { headers, contentType: 'application/json', contentEncoding: 'utf8', deliveryMode: 2, priority: 3, correlationId: 'c', replyTo: 'r', expiration: '60000', messageId: 'm', timestamp: 1700000000, type: 't', appId: 'a' }
      await publishAll(ch, '', q, ['typed'], properties)
      const m = await ch.get(q, { noAck: true }) as GetMessage
      const types = Object.fromEntries(Object.entries(m.properties.headers ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? 'buffer' : Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v]))
      return { fields: m.fields, properties: m.properties, types }
    },
    expect: {
      fields: { deliveryTag: 1, redelivered: false, exchange: '', routingKey: '<q>', messageCount: 0 },
      properties: {
        contentType: 'application/json',
        contentEncoding: 'utf8',
        headers: { s: 'x', i: 1, neg: -300, big: 2 ** 40, f: 1.5, b: false, n: null, arr: [1, 'a', true], nested: { a: { b: 2 } }, buf: { type: 'Buffer', data: [104, 105] } },
        deliveryMode: 2,
        priority: 3,
        correlationId: 'c',
        replyTo: 'r',
        expiration: '60000',
        messageId: 'm',
        timestamp: 1700000000,
        type: 't',
        appId: 'a'
      },
      types: { s: 'string', i: 'number', neg: 'number', big: 'number', f: 'number', b: 'boolean', n: 'null', arr: 'array', nested: 'object', buf: 'buffer' }
    }
  },
  {
    name: 'publisher confirms arrive in publish order and waitForConfirms resolves after them',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const q = b.unique('q')
      await ch.assertQueue(q, { durable: false })
      const events: string[] = []
      for (let i = 1; i <= 5; i++) ch.sendToQueue(q, Buffer.from(`m${i}`), {}, (err) => events.push(`m${i}:${err ? 'nack' : 'ack'}`))
      await within(ch.waitForConfirms(), 'confirms')
      events.push('waited')
      return { events, messageCount: (await ch.checkQueue(q)).messageCount }
    },
    expect: { events: ['m1:ack', 'm2:ack', 'm3:ack', 'm4:ack', 'm5:ack', 'waited'], messageCount: 5 }
  },
  {
    name: 'messages nacked with requeue go back to their original positions, redelivered',
    async run (b) {
      const { ch, q } = await filled(b, 5)
      const taken: GetMessage[] = []
      for (let i = 0; i < 3; i++) taken.push(await ch.get(q) as GetMessage)
      ch.nack(taken[2])
      ch.nack(taken[0])
      const consumer = await inbox(ch, q)
      const got = await consumer.until(4)
      ch.ackAll()
      return { taken: bodies(taken), next: bodies(got) }
    },
    expect: { taken: ['m1', 'm2', 'm3'], next: ['m1*', 'm3*', 'm4', 'm5'] }
  },
  {
    name: 'nacking 2 of 5 delivered messages after cancelling redelivers them, in queue order, to the next consumer',
    async run (b) {
      const { ch, q } = await filled(b, 5)
      const first = await inbox(ch, q)
      const five = await first.until(5) as ConsumeMessage[]
      await ch.cancel(first.consumerTag)
      for (const i of [0, 2, 4]) ch.ack(five[i])
      ch.nack(five[3])
      ch.nack(five[1])
      const second = await inbox(ch, q)
      const again = await second.until(2)
      ch.ackAll()
      return { first: bodies(five), second: bodies(again), afterCancel: first.messages.length }
    },
    expect: { first: ['m1', 'm2', 'm3', 'm4', 'm5'], second: ['m2*', 'm4*'], afterCancel: 5 }
  },
  {
    name: 'nacking 2 of 5 to a live consumer redelivers each as it is nacked',
    async run (b) {
      const { ch, q } = await filled(b, 5)
      const consumer = await inbox(ch, q)
      const five = await consumer.until(5) as ConsumeMessage[]
      ch.nack(five[3])
      ch.nack(five[1])
      const all = await consumer.until(7)
      ch.ackAll()
      return bodies(all)
    },
    expect: ['m1', 'm2', 'm3', 'm4', 'm5', 'm4*', 'm2*']
  },
  {
    name: 'prefetch 2 delivers exactly 2 of 5 messages until one is acked',
    async run (b) {
      const { conn, q } = await filled(b, 5)
      const ch = await channel(conn)
      await ch.prefetch(2)
      const consumer = await inbox(ch, q)
      const two = await consumer.until(2) as ConsumeMessage[]
      const held = await ch.checkQueue(q)
      const seenWhileHeld = consumer.messages.length
      ch.ack(two[0])
      const three = await consumer.until(3)
      const after = await ch.checkQueue(q)
      ch.ackAll()
      return { seenWhileHeld, held, delivered: bodies(three), after, seenAfter: consumer.messages.length }
    },
    expect: {
      seenWhileHeld: 2,
      held: { queue: '<q>', messageCount: 3, consumerCount: 1 },
      delivered: ['m1', 'm2', 'm3'],
      after: { queue: '<q>', messageCount: 2, consumerCount: 1 },
      seenAfter: 3
    }
  },
  {
    name: 'prefetch applies to consumers started after it, not before',
    async run (b) {
      const { conn, q } = await filled(b, 4)
      const ch = await channel(conn)
      const before = await inbox(ch, q)
      await before.until(4)
      await ch.cancel(before.consumerTag)
      ch.nackAll()
      await ch.prefetch(1)
      const after = await inbox(ch, q)
      await after.until(1)
      const { messageCount } = await ch.checkQueue(q)
      ch.ackAll()
      return { before: bodies(before.messages), after: bodies(after.messages), messageCount }
    },
    expect: { before: ['m1', 'm2', 'm3', 'm4'], after: ['m1*'], messageCount: 3 }
  },
  {
    name: 'a message nacked without requeue and without a dead-letter exchange is gone',
    async run (b) {
      const { ch, q } = await filled(b, 2)
      const m = await ch.get(q) as GetMessage
      ch.nack(m, false, false)
      const rest = await ch.get(q, { noAck: true }) as GetMessage
      return { rest: body(rest), left: (await ch.checkQueue(q)).messageCount }
    },
    expect: { rest: 'm2', left: 0 }
  },
  {
    name: 'two consumers on one queue get messages round-robin',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const q = b.unique('q')
      await ch.assertQueue(q, { durable: false })
      const one = await inbox(ch, q, { noAck: true })
      const two = await inbox(ch, q, { noAck: true })
      await publishAll(ch, '', q, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'])
      return { one: bodies(await one.until(3)), two: bodies(await two.until(3)) }
    },
    expect: { one: ['m1', 'm3', 'm5'], two: ['m2', 'm4', 'm6'] }
  },
  {
    name: 'unacked messages go back to the queue, redelivered, when their channel closes',
    async run (b) {
      const { conn, ch, q } = await filled(b, 3)
      const doomed = await channel(conn)
      const first = await inbox(doomed, q)
      const got = await first.until(3) as ConsumeMessage[]
      doomed.ack(got[0])
      await doomed.close()
      const second = await inbox(ch, q, { noAck: true })
      return { first: bodies(got), second: bodies(await second.until(2)) }
    },
    expect: { first: ['m1', 'm2', 'm3'], second: ['m2*', 'm3*'] }
  },
  {
    name: 'acking a delivery tag twice closes the channel with 406 unknown delivery tag',
    async run (b) {
      const { conn, q } = await filled(b, 1)
      const ch = await channel(conn)
      const m = await ch.get(q) as GetMessage
      ch.ack(m)
      return channelError(ch, () => ch.ack(m))
    },
    expect: {
      error: { code: 406, text: 'PRECONDITION_FAILED - unknown delivery tag 1' },
      rejected: null,
      later: 'Channel closed'
    }
  },
  {
    name: 'direct reply-to carries a request and its reply through amq.rabbitmq.reply-to',
    async run (b) {
      const conn = await b.connect()
      const server = await channel(conn)
      const q = b.unique('rpc')
      await server.assertQueue(q, { durable: false })
      const seen: unknown[] = []
      await server.consume(q, (m) => {
        if (m === null) return
        seen.push({ replyTo: m.properties.replyTo, correlationId: m.properties.correlationId })
        server.publish('', m.properties.replyTo, Buffer.from(`re: ${body(m)}`), { correlationId: m.properties.correlationId })
        server.ack(m)
      })
      const client = await channel(conn)
      const replies = await inbox(client, 'amq.rabbitmq.reply-to', { noAck: true })
      client.sendToQueue(q, Buffer.from('ping'), { replyTo: 'amq.rabbitmq.reply-to', correlationId: 'c1' })
      const [reply] = await replies.until(1) as ConsumeMessage[]
      return {
        seen,
        reply: { body: body(reply), fields: { ...reply.fields, consumerTag: 'ignored' }, properties: propertiesView(reply) }
      }
    },
    expect: {
      seen: [{ replyTo: 'amq.rabbitmq.reply-to.*', correlationId: 'c1' }],
      reply: {
        body: 're: ping',
        fields: { consumerTag: 'ignored', deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'amq.rabbitmq.reply-to.*' },
        properties: { correlationId: 'c1', headers: {} }
      }
    }
  },
  {
    name: 'publishing with reply-to amq.rabbitmq.reply-to without consuming it closes the channel with 406',
    async run (b) {
      const conn = await b.connect()
      const ch = await channel(conn)
      const q = b.unique('rpc')
      await ch.assertQueue(q, { durable: false })
      return channelError(ch, () => ch.sendToQueue(q, Buffer.from('ping'), { replyTo: 'amq.rabbitmq.reply-to' }))
    },
    expect: {
      error: { code: 406, text: 'PRECONDITION_FAILED - fast reply consumer does not exist' },
      rejected: null,
      later: 'Channel closed'
    }
  }
]
