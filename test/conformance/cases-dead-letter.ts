import type { ConsumeMessage, Message } from 'amqplib'
import type { Case } from './cases'
import type { Broker } from './brokers'
import { bodies, body, confirmChannel, deathHeaders, drain, eventually, inbox, propertiesView, within } from './observe'

/** What a dead-lettered message looks like to the consumer of the dead-letter queue. */
function deadView (m: Message) {
  return { body: body(m), exchange: m.fields.exchange, routingKey: m.fields.routingKey, properties: propertiesView(m) }
}

/** A queue `q` dead-lettering (through the default exchange) into a queue `dlq`, plus a confirm channel. */
async function withDeadLetterQueue (b: Broker, args: Record<string, unknown>) {
  const conn = await b.connect()
  const ch = await confirmChannel(conn)
  const q = b.unique('q')
  const dlq = b.unique('dlq')
  await ch.assertQueue(dlq, { durable: false })
  await ch.assertQueue(q, { durable: false, deadLetterExchange: '', deadLetterRoutingKey: dlq, ...args })
  return { conn, ch, q, dlq }
}

export const deadLetterCases: Case[] = [
  {
    name: 'a message older than the queue TTL is dead-lettered with reason expired and an x-death entry',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const dlx = b.unique('dlx')
      const dlq = b.unique('dlq')
      const q = b.unique('q')
      await ch.assertExchange(dlx, 'fanout', { durable: false })
      await ch.assertQueue(dlq, { durable: false })
      await ch.bindQueue(dlq, dlx, '')
      await ch.assertQueue(q, { durable: false, messageTtl: 50, deadLetterExchange: dlx })
      const dead = await inbox(ch, dlq, { noAck: true })
      ch.sendToQueue(q, Buffer.from('old'), { headers: { h: 1 }, contentType: 'text/plain', messageId: 'm1' })
      await within(ch.waitForConfirms(), 'confirms')
      const [m] = await dead.until(1)
      return { dead: deadView(m as ConsumeMessage), left: (await ch.checkQueue(q)).messageCount }
    },
    expect: {
      dead: {
        body: 'old',
        exchange: '<dlx>',
        routingKey: '<q>',
        properties: {
          contentType: 'text/plain',
          messageId: 'm1',
          headers: {
            h: 1,
            'x-death': [{ count: 1, reason: 'expired', queue: '<q>', time: '<time>', exchange: '', 'routing-keys': ['<q>'] }],
            'x-first-death-exchange': '',
            'x-first-death-queue': '<q>',
            'x-first-death-reason': 'expired'
          }
        }
      },
      left: 0
    }
  },
  {
    name: 'a per-message expiration dead-letters the message with original-expiration and without its expiration property',
    async run (b) {
      const { ch, q, dlq } = await withDeadLetterQueue(b, {})
      const dead = await inbox(ch, dlq, { noAck: true })
      ch.sendToQueue(q, Buffer.from('short'), { expiration: '50' })
      await within(ch.waitForConfirms(), 'confirms')
      return deadView(await dead.until(1).then(([m]) => m as ConsumeMessage))
    },
    expect: {
      body: 'short',
      exchange: '',
      routingKey: '<dlq>',
      properties: {
        headers: {
          'x-death': [{ count: 1, reason: 'expired', queue: '<q>', time: '<time>', exchange: '', 'routing-keys': ['<q>'], 'original-expiration': '50' }],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<q>',
          'x-first-death-reason': 'expired'
        }
      }
    }
  },
  {
    name: 'the lower of queue TTL and message expiration wins, whichever of the two it is',
    async run (b) {
      const long = await withDeadLetterQueue(b, { messageTtl: 60000 })
      const short = await withDeadLetterQueue(b, { messageTtl: 50 })
      const deadLong = await inbox(long.ch, long.dlq, { noAck: true })
      const deadShort = await inbox(short.ch, short.dlq, { noAck: true })
      long.ch.sendToQueue(long.q, Buffer.from('message expiration 50'), { expiration: '50' })
      short.ch.sendToQueue(short.q, Buffer.from('queue TTL 50'), { expiration: 60000 })
      const x = (m: ConsumeMessage | null) => (m?.properties.headers?.['x-death'] as unknown as Array<Record<string, unknown>>)[0]
      const [a] = await deadLong.until(1)
      const [c] = await deadShort.until(1)
      return [`${body(a as ConsumeMessage)}: ${x(a).reason} ${x(a)['original-expiration']}`, `${body(c as ConsumeMessage)}: ${x(c).reason} ${x(c)['original-expiration']}`]
    },
    expect: ['message expiration 50: expired 50', 'queue TTL 50: expired 60000']
  },
  {
    name: 'an expired message behind an unacked one is never delivered, and the next one is',
    async run (b) {
      const { conn, ch, q, dlq } = await withDeadLetterQueue(b, {})
      const consumer = await confirmChannel(conn)
      await consumer.prefetch(1)
      const got = await inbox(consumer, q)
      const dead = await inbox(ch, dlq, { noAck: true })
      ch.sendToQueue(q, Buffer.from('m1'))
      ch.sendToQueue(q, Buffer.from('m2'), { expiration: '50' })
      ch.sendToQueue(q, Buffer.from('m3'))
      await within(ch.waitForConfirms(), 'confirms')
      const [first] = await got.until(1)
      await dead.until(1)
      consumer.ack(first as ConsumeMessage)
      const all = await got.until(2)
      consumer.ack(all[1] as ConsumeMessage)
      return { delivered: bodies(all), dead: bodies(dead.messages) }
    },
    expect: { delivered: ['m1', 'm3'], dead: ['m2'] }
  },
  {
    name: 'a message rejected without requeue is dead-lettered with reason rejected, its forged x-first-death-queue overwritten',
    async run (b) {
      const { ch, q, dlq } = await withDeadLetterQueue(b, {})
      const dead = await inbox(ch, dlq, { noAck: true })
      ch.publish('', q, Buffer.from('no'), { headers: { 'x-first-death-queue': 'forged?' } })
      ch.sendToQueue(q, Buffer.from('nack'))
      await within(ch.waitForConfirms(), 'confirms')
      const first = await ch.get(q)
      const second = await ch.get(q)
      if (first === false || second === false) throw new Error('expected two messages')
      ch.reject(first, false)
      ch.nack(second, false, false)
      return (await dead.until(2)).map((m) => deadView(m as ConsumeMessage))
    },
    expect: [
      {
        body: 'no',
        exchange: '',
        routingKey: '<dlq>',
        properties: {
          headers: {
            'x-death': [{ count: 1, reason: 'rejected', queue: '<q>', time: '<time>', exchange: '', 'routing-keys': ['<q>'] }],
            'x-first-death-exchange': '',
            'x-first-death-queue': '<q>',
            'x-first-death-reason': 'rejected'
          }
        }
      },
      {
        body: 'nack',
        exchange: '',
        routingKey: '<dlq>',
        properties: {
          headers: {
            'x-death': [{ count: 1, reason: 'rejected', queue: '<q>', time: '<time>', exchange: '', 'routing-keys': ['<q>'] }],
            'x-first-death-exchange': '',
            'x-first-death-queue': '<q>',
            'x-first-death-reason': 'rejected'
          }
        }
      }
    ]
  },
  {
    name: 'a message dead-lettered twice from the same queue for the same reason counts 2 in one x-death entry, moved to the front',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const a = b.unique('a')
      const bq = b.unique('b')
      // a: messages expire into b; b: rejected messages go back to a.
      await ch.assertQueue(a, { durable: false, messageTtl: 50, deadLetterExchange: '', deadLetterRoutingKey: bq })
      await ch.assertQueue(bq, { durable: false, deadLetterExchange: '', deadLetterRoutingKey: a })
      const consumer = await confirmChannel(conn)
      const got = await inbox(consumer, bq, {}, (m) => {
        if (m === null) return
        if (got.messages.length === 1) consumer.reject(m, false)
        else consumer.ack(m)
      })
      ch.sendToQueue(a, Buffer.from('looping'), { headers: { h: 'kept' } })
      await within(ch.waitForConfirms(), 'confirms')
      return (await got.until(2)).map((m) => deadView(m as ConsumeMessage))
    },
    expect: [
      {
        body: 'looping',
        exchange: '',
        routingKey: '<b>',
        properties: {
          headers: {
            h: 'kept',
            'x-death': [{ count: 1, reason: 'expired', queue: '<a>', time: '<time>', exchange: '', 'routing-keys': ['<a>'] }],
            'x-first-death-exchange': '',
            'x-first-death-queue': '<a>',
            'x-first-death-reason': 'expired'
          }
        }
      },
      {
        body: 'looping',
        exchange: '',
        routingKey: '<b>',
        properties: {
          headers: {
            h: 'kept',
            'x-death': [
              // The entry keeps the routing keys of the first death; only the count moves.
              { count: 2, reason: 'expired', queue: '<a>', time: '<time>', exchange: '', 'routing-keys': ['<a>'] },
              { count: 1, reason: 'rejected', queue: '<b>', time: '<time>', exchange: '', 'routing-keys': ['<b>'] }
            ],
            'x-first-death-exchange': '',
            'x-first-death-queue': '<a>',
            'x-first-death-reason': 'expired'
          }
        }
      }
    ]
  },
  {
    name: 'max-length drop-head dead-letters the oldest message with reason maxlen',
    async run (b) {
      const { ch, q, dlq } = await withDeadLetterQueue(b, { maxLength: 2 })
      const dead = await inbox(ch, dlq, { noAck: true })
      for (const m of ['m1', 'm2', 'm3', 'm4']) ch.sendToQueue(q, Buffer.from(m))
      await within(ch.waitForConfirms(), 'confirms')
      const gone = await dead.until(2)
      return { dead: gone.map((m) => deadView(m as ConsumeMessage)), left: bodies(await drain(ch, q)) }
    },
    expect: {
      dead: ['m1', 'm2'].map((m) => ({
        body: m,
        exchange: '',
        routingKey: '<dlq>',
        properties: {
          headers: {
            'x-death': [{ count: 1, reason: 'maxlen', queue: '<q>', time: '<time>', exchange: '', 'routing-keys': ['<q>'] }],
            'x-first-death-exchange': '',
            'x-first-death-queue': '<q>',
            'x-first-death-reason': 'maxlen'
          }
        }
      })),
      left: ['m3', 'm4']
    }
  },
  {
    name: 'max-length reject-publish nacks the publish that overflows and keeps the first messages',
    async run (b) {
      const { ch, q, dlq } = await withDeadLetterQueue(b, { maxLength: 2, arguments: { 'x-overflow': 'reject-publish' } })
      const confirms: string[] = []
      for (const m of ['m1', 'm2', 'm3']) {
        ch.sendToQueue(q, Buffer.from(m), {}, (err) => confirms.push(`${m}:${err ? 'nack ' + (err as Error).message : 'ack'}`))
      }
      const waited = await ch.waitForConfirms().then(() => 'resolved', (err: Error) => `rejected: ${err.message}`)
      return { confirms, waited, left: bodies(await drain(ch, q)), dead: (await ch.checkQueue(dlq)).messageCount }
    },
    expect: {
      confirms: ['m1:ack', 'm2:ack', 'm3:nack message nacked'],
      waited: 'rejected: message nacked',
      left: ['m1', 'm2'],
      dead: 0
    }
  },
  {
    name: 'an expired message without a dead-letter exchange is dropped',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const q = b.unique('q')
      await ch.assertQueue(q, { durable: false, messageTtl: 50 })
      ch.sendToQueue(q, Buffer.from('gone'))
      await within(ch.waitForConfirms(), 'confirms')
      const count = await eventually(async () => {
        const { messageCount } = await ch.checkQueue(q)
        return messageCount === 0 ? messageCount : undefined
      }, 'the message to expire')
      return { count, got: await ch.get(q) }
    },
    expect: { count: 0, got: false }
  },
  {
    name: 'a quorum queue counts each return in x-delivery-count and dead-letters past x-delivery-limit with reason delivery_limit',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const q = b.unique('q')
      const dlq = b.unique('dlq')
      await ch.assertQueue(dlq, { durable: true })
      await ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 1, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } })
      ch.sendToQueue(q, Buffer.from('poison'), { headers: { h: 1 } })
      await within(ch.waitForConfirms(), 'confirms')
      const seen: unknown[] = []
      for (let i = 0; i < 2; i++) {
        const m = await eventually(async () => (await ch.get(q)) || undefined, `delivery ${i + 1}`)
        seen.push({ redelivered: m.fields.redelivered, headers: m.properties.headers })
        ch.nack(m, false, true)
      }
      const dead = await eventually(async () => (await ch.get(dlq, { noAck: true })) || undefined, 'the dead-lettered copy')
      return { seen, dead: { body: body(dead), headers: deathHeaders(dead.properties.headers) }, left: (await ch.checkQueue(q)).messageCount }
    },
    expect: {
      seen: [
        { redelivered: false, headers: { h: 1, 'x-delivery-count': 0 } },
        { redelivered: true, headers: { h: 1, 'x-delivery-count': 1 } }
      ],
      dead: {
        body: 'poison',
        headers: {
          h: 1,
          'x-death': [{ count: 1, reason: 'delivery_limit', queue: '<q>', time: '<time>', exchange: '', 'routing-keys': ['<q>'] }],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<q>',
          'x-first-death-reason': 'delivery_limit'
        }
      },
      left: 0
    }
  }
]
