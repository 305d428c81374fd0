import type { Case } from './cases'
import type { Broker } from './brokers'
import { body, channel, channelError, confirmChannel, drain, publishAll, within } from './observe'

/** Every key published in each topic case, in this order. */
const KEYS = ['', 'a', 'b', 'a.b', 'b.a', 'a.b.c', 'a.x.b', 'a.x.y.b', 'a..b', 'a.', '.a', '.', 'a.b.c.d']
const EVERY = [...KEYS]
const NONEMPTY = KEYS.filter((k) => k !== '')

/** Binding pattern → the keys of KEYS it routes, in publish order. */
const TOPIC: Array<[string, string[]]> = [
  ['a', ['a']],
  ['*', ['a', 'b']],
  ['#', EVERY],
  ['', ['']],
  ['a.*', ['a.b', 'a.']],
  ['*.b', ['a.b']],
  ['*.*', ['a.b', 'b.a', 'a.', '.a', '.']],
  ['*.*.*', ['a.b.c', 'a.x.b', 'a..b']],
  ['a.#', ['a', 'a.b', 'a.b.c', 'a.x.b', 'a.x.y.b', 'a..b', 'a.', 'a.b.c.d']],
  ['#.b', ['b', 'a.b', 'a.x.b', 'a.x.y.b', 'a..b']],
  ['#.a', ['a', 'b.a', '.a']],
  ['a.#.b', ['a.b', 'a.x.b', 'a.x.y.b', 'a..b']],
  ['a.*.b', ['a.x.b', 'a..b']],
  ['#.#', EVERY],
  ['a.#.#', ['a', 'a.b', 'a.b.c', 'a.x.b', 'a.x.y.b', 'a..b', 'a.', 'a.b.c.d']],
  ['#.*', NONEMPTY],
  ['*.#', NONEMPTY],
  ['#.b.#', ['b', 'a.b', 'b.a', 'a.b.c', 'a.x.b', 'a.x.y.b', 'a..b', 'a.b.c.d']],
  ['a..b', ['a..b']],
  ['a.', ['a.']],
  ['.', ['.']],
  ['*.', ['a.', '.']],
  ['.*', ['.a', '.']],
  ['#.', ['a.', '.']],
  ['a.b.#.c.#', ['a.b.c', 'a.b.c.d']],
  ['#.c.d', ['a.b.c.d']],
  ['*.#.*', ['a.b', 'b.a', 'a.b.c', 'a.x.b', 'a.x.y.b', 'a..b', 'a.', '.a', '.', 'a.b.c.d']],
  ['a.*.#', ['a.b', 'a.b.c', 'a.x.b', 'a.x.y.b', 'a..b', 'a.', 'a.b.c.d']],
  ['#.*.b', ['a.b', 'a.x.b', 'a.x.y.b', 'a..b']],
  ['A', []],
  ['a.b.c.d.#', ['a.b.c.d']],
  ['#.#.#.a', ['a', 'b.a', '.a']]
]

/** Binds one queue with `pattern` to a new topic exchange, publishes every key, and lists the keys it got. */
async function topicRoute (b: Broker, pattern: string): Promise<string[]> {
  const conn = await b.connect()
  const ch = await confirmChannel(conn)
  const x = b.unique('topic')
  const q = b.unique('q')
  await ch.assertExchange(x, 'topic', { durable: false })
  await ch.assertQueue(q, { durable: false })
  await ch.bindQueue(q, x, pattern)
  for (const key of KEYS) ch.publish(x, key, Buffer.from(JSON.stringify(key)))
  await within(ch.waitForConfirms(), 'confirms')
  return (await drain(ch, q)).map((m) => JSON.parse(body(m)))
}

const topicCases: Case[] = TOPIC.map(([pattern, keys]) => ({
  name: `a topic binding ${JSON.stringify(pattern)} routes exactly the keys ${JSON.stringify(keys)}`,
  run: (b) => topicRoute(b, pattern),
  expect: keys
}))

/** Every message published in each headers case: label → headers. */
const HEADERS: Array<[string, Record<string, unknown>]> = [
  ['none', {}],
  ['k=1', { k: 1 }],
  ['k="1"', { k: '1' }],
  ['k=true', { k: true }],
  ['k="true"', { k: 'true' }],
  ['k=1.5', { k: 1.5 }],
  ['k=1,m="x"', { k: 1, m: 'x' }],
  ['m="x"', { m: 'x' }],
  ['k=2', { k: 2 }],
  ['x-k=1', { 'x-k': 1 }],
  ['k=1,x-k=1', { k: 1, 'x-k': 1 }]
]
const K1 = ['k=1', 'k=1,m="x"', 'k=1,x-k=1']

/** Binding arguments → the labels of HEADERS it routes. */
const HEADER_BINDINGS: Array<[string, Record<string, unknown>, string[]]> = [
  ['all with a number matches only that number, not the string or boolean', { 'x-match': 'all', k: 1 }, K1],
  ['all with a string matches only that string', { 'x-match': 'all', k: '1' }, ['k="1"']],
  ['all with a boolean matches only that boolean', { 'x-match': 'all', k: true }, ['k=true']],
  ['all with the string "true" does not match the boolean', { 'x-match': 'all', k: 'true' }, ['k="true"']],
  ['no x-match means all', { k: 1 }, K1],
  ['all with a float matches that float', { 'x-match': 'all', k: 1.5 }, ['k=1.5']],
  ['all with two headers needs both', { 'x-match': 'all', k: 1, m: 'x' }, ['k=1,m="x"']],
  ['any with two headers needs one', { 'x-match': 'any', k: 1, m: 'x' }, ['k=1', 'k=1,m="x"', 'm="x"', 'k=1,x-k=1']],
  ['any with values nobody sent matches only the one that fits', { 'x-match': 'any', k: 2, m: 'y' }, ['k=2']],
  ['all ignores x- binding arguments', { 'x-match': 'all', k: 1, 'x-k': 1 }, K1],
  ['all-with-x compares x- headers too', { 'x-match': 'all-with-x', k: 1, 'x-k': 1 }, ['k=1,x-k=1']],
  ['any with only x- arguments matches nothing', { 'x-match': 'any', 'x-k': 1 }, []],
  ['any-with-x matches on an x- header', { 'x-match': 'any-with-x', 'x-k': 1 }, ['x-k=1', 'k=1,x-k=1']],
  ['all with no arguments matches everything', { 'x-match': 'all' }, HEADERS.map(([label]) => label)],
  ['a void (null) argument matches the header present with any value', { 'x-match': 'all', k: null }, ['k=1', 'k="1"', 'k=true', 'k="true"', 'k=1.5', 'k=1,m="x"', 'k=2', 'k=1,x-k=1']],
  ['any with a number and a void argument', { 'x-match': 'any', k: 2, m: null }, ['k=1,m="x"', 'm="x"', 'k=2']]
]

const headersCases: Case[] = HEADER_BINDINGS.map(([what, args, labels]) => ({
  name: `a headers binding: ${what}`,
  async run (b) {
    const conn = await b.connect()
    const ch = await confirmChannel(conn)
    const x = b.unique('headers')
    const q = b.unique('q')
    await ch.assertExchange(x, 'headers', { durable: false })
    await ch.assertQueue(q, { durable: false })
    await ch.bindQueue(q, x, '', args)
    for (const [label, headers] of HEADERS) ch.publish(x, 'ignored', Buffer.from(label), { headers })
    await within(ch.waitForConfirms(), 'confirms')
    return (await drain(ch, q)).map(body)
  },
  expect: labels
}))

const otherCases: Case[] = [
  {
    name: 'a direct exchange routes a key to every queue bound with it, once per queue, and returns an unbound key',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const x = b.unique('direct')
      const [q1, q2, q3] = [b.unique('q1'), b.unique('q2'), b.unique('q3')]
      await ch.assertExchange(x, 'direct', { durable: false })
      for (const q of [q1, q2, q3]) await ch.assertQueue(q, { durable: false })
      await ch.bindQueue(q1, x, 'k1')
      await ch.bindQueue(q2, x, 'k1')
      await ch.bindQueue(q2, x, 'k1')
      await ch.bindQueue(q2, x, 'k2')
      await ch.bindQueue(q3, x, 'k2')
      const returned: string[] = []
      ch.on('return', (m) => returned.push(`${m.fields.routingKey}:${body(m)}`))
      await publishAll(ch, x, 'k1', ['one'], { mandatory: true })
      await publishAll(ch, x, 'k2', ['two'], { mandatory: true })
      await publishAll(ch, x, 'k3', ['three'], { mandatory: true })
      const got = async (q: string) => (await drain(ch, q)).map((m) => `${m.fields.exchange}/${m.fields.routingKey}:${body(m)}`)
      return { q1: await got(q1), q2: await got(q2), q3: await got(q3), returned }
    },
    expect: {
      q1: ['<direct>/k1:one'],
      q2: ['<direct>/k1:one', '<direct>/k2:two'],
      q3: ['<direct>/k2:two'],
      returned: ['k3:three']
    }
  },
  {
    name: 'a fanout exchange routes every key, the empty one too, to every bound queue',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const x = b.unique('fanout')
      const [q1, q2] = [b.unique('q1'), b.unique('q2')]
      await ch.assertExchange(x, 'fanout', { durable: false })
      await ch.assertQueue(q1, { durable: false })
      await ch.assertQueue(q2, { durable: false })
      await ch.bindQueue(q1, x, 'whatever')
      await ch.bindQueue(q2, x, '')
      await publishAll(ch, x, 'some.key', ['one'])
      await publishAll(ch, x, '', ['two'])
      const got = async (q: string) => (await drain(ch, q)).map((m) => `${m.fields.routingKey}:${body(m)}`)
      return { q1: await got(q1), q2: await got(q2) }
    },
    expect: { q1: ['some.key:one', ':two'], q2: ['some.key:one', ':two'] }
  },
  {
    name: 'the default exchange routes to the queue named by the key and returns a key naming no queue',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const q = b.unique('q')
      await ch.assertQueue(q, { durable: false })
      const returned: unknown[] = []
      ch.on('return', (m) => returned.push({ ...m.fields, body: body(m) }))
      ch.sendToQueue(q, Buffer.from('by sendToQueue'))
      await publishAll(ch, '', q, ['by publish'], { mandatory: true })
      await publishAll(ch, '', b.unique('missing'), ['to nowhere'], { mandatory: true })
      const got = (await drain(ch, q)).map((m) => ({ ...m.fields, body: body(m) }))
      return { got, returned }
    },
    expect: {
      got: [
        { deliveryTag: 1, redelivered: false, exchange: '', routingKey: '<q>', messageCount: 1, body: 'by sendToQueue' },
        { deliveryTag: 2, redelivered: false, exchange: '', routingKey: '<q>', messageCount: 0, body: 'by publish' }
      ],
      returned: [{ replyCode: 312, replyText: 'NO_ROUTE', exchange: '', routingKey: '<missing>', body: 'to nowhere' }]
    }
  },
  {
    name: 'a confirm channel confirms its publishes by their number from 1, and returns an unroutable one before confirming it',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const q = b.unique('q')
      await ch.assertQueue(q, { durable: false })
      const acked = new Set<number>()
      const nacked: number[] = []
      const returned: Array<{ id: unknown, itsAckSeen: boolean }> = []
      // `multiple` confirms every publish up to its number not confirmed yet: single confirms may come before it, out of order.
      const settled = new Set<number>()
      const take = (into: (n: number) => void) => (f: { deliveryTag: number, multiple: boolean }) => {
        for (let n = f.multiple ? 1 : f.deliveryTag; n <= f.deliveryTag; n++) {
          if (settled.has(n)) continue
          settled.add(n)
          into(n)
        }
      }
      ch.on('ack', take((n) => acked.add(n)))
      ch.on('nack', take((n) => nacked.push(n)))
      ch.on('return', (m) => returned.push({ id: m.properties.messageId, itsAckSeen: acked.has(3) }))
      for (let i = 1; i <= 5; i++) {
        ch.publish('', i === 3 ? b.unique('missing') : q, Buffer.from(String(i)), { mandatory: true, messageId: `m${i}` })
      }
      await within(ch.waitForConfirms(), 'confirms')
      return { acked: [...acked].sort((x, y) => x - y), nacked, returned }
    },
    expect: { acked: [1, 2, 3, 4, 5], nacked: [], returned: [{ id: 'm3', itsAckSeen: false }] }
  },
  {
    name: 'binding a queue to the default exchange is refused with 403',
    async run (b) {
      const conn = await b.connect()
      const ch = await channel(conn)
      const q = b.unique('q')
      await ch.assertQueue(q, { durable: false })
      return channelError(ch, () => ch.bindQueue(q, '', q))
    },
    expect: {
      error: { code: 403, text: 'ACCESS_REFUSED - operation not permitted on the default exchange' },
      rejected: { code: 403, text: 'ACCESS_REFUSED - operation not permitted on the default exchange' },
      later: 'Channel closed'
    }
  }
]

export const routingCases: Case[] = [...topicCases, ...headersCases, ...otherCases]
