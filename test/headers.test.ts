import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import { transportFor } from '../lib/transport/transport'
import { Connection } from '../lib/core/connection'
import { silentLog } from '../lib/core/log'
import { normalizeOptions } from '../lib/core/options'
import { Publisher } from '../lib/core/publisher'
import { AMQP_URL, admin, build, collector, outcome, uniqueName } from './helpers'

/*
 * Headers amqplib cannot encode are refused alone, before they reach the
 * buffer, with a code naming the header; publishing goes on around them.
 */

const BAD: Array<[string, Record<string, unknown>, string, string]> = [
  ['a Symbol', { tenant: Symbol('acme') }, 'FST_AMQP_INVALID_HEADER', 'tenant'],
  ['a function', { callback: () => 1 }, 'FST_AMQP_INVALID_HEADER', 'callback'],
  ['a BigInt', { big: 10n }, 'FST_AMQP_INVALID_HEADER', 'big'],
  ['a key of 256 bytes', { ['k'.repeat(256)]: 1 }, 'FST_AMQP_INVALID_HEADER', 'k'.repeat(256)],
  ['a nested Symbol', { meta: { deep: [1, Symbol('x')] } }, 'FST_AMQP_INVALID_HEADER', 'meta.deep[1]'],
  ['70 KB of headers', { blob: 'x'.repeat(70 * 1024) }, 'FST_AMQP_HEADERS_TOO_LARGE', 'blob']
]

t.test('publish() refuses each unencodable header alone, within a second, with its code and name, while 1,000 good publishes around them all confirm', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  const got = collector<number>(1000, 30000)
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => { got.push(msg.body.n) }, { prefetch: 100 })
  await app.ready()

  const good: Array<Promise<unknown>> = []
  const bad: Array<Promise<unknown>> = []
  for (let n = 0; n < 1000; n++) {
    good.push(app.amqp.publish(key, { n }))
    if (n % 150 === 0 && bad.length < BAD.length) bad.push(app.amqp.publish(key, { bad: true }, { headers: BAD[bad.length][1] }))
  }
  const outcomes = await Promise.all(bad.map((p) => outcome(p, 1000)))
  t.same(outcomes, BAD.map(([,, code]) => code), 'each bad header rejected within a second, with its code')
  for (const [i, p] of bad.entries()) {
    const err: any = await p.catch((e) => e)
    t.equal(err.header, BAD[i][3], `${BAD[i][0]}: err.header names it`)
    t.ok(err.message.includes(BAD[i][3].slice(0, 40)), `${BAD[i][0]}: and so does the message`)
  }
  await Promise.all(good)
  t.pass('all 1,000 good publishes confirmed')
  const received = await got.done
  t.equal(new Set(received).size, 1000, 'and all 1,000 were received, the bad ones never sent')
  t.equal(app.amqp.health().status, 'ok')
})

t.test('request() refuses each unencodable header alone with its code, and requests around them get their replies', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => msg.body.n * 2)
  await app.ready()
  const good: Array<Promise<unknown>> = []
  const bad: Array<Promise<unknown>> = []
  for (let n = 0; n < 50; n++) {
    good.push(app.amqp.request(key, { n }))
    if (n % 8 === 0 && bad.length < BAD.length) bad.push(app.amqp.request(key, { n }, { headers: BAD[bad.length][1] }))
  }
  t.same(await Promise.all(bad.map((p) => outcome(p, 1000))), BAD.map(([,, code]) => code))
  t.same(await Promise.all(good), Array.from({ length: 50 }, (_, n) => n * 2), 'every good request got its reply')
})

t.test('headers of every type AMQP tables carry go through as they are', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  const got = collector<Record<string, unknown>>(1)
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => { got.push(msg.headers) })
  await app.ready()
  const headers = {
    s: 'text',
    i: 7,
    neg: -70000,
    big: 2 ** 40,
    f: 1.5,
    yes: true,
    nothing: null,
    bytes: Buffer.from([1, 2]),
    list: [1, 'two', [3]],
    table: { a: { b: 'c' } },
    stamp: { '!': 'timestamp', value: 1700000000 },
    u8: { '!': 'uint8', value: 255 },
    dec: { '!': 'decimal', value: { places: 2, digits: 1234 } },
    ['é'.repeat(127)]: 'a 254-byte key'
  }
  await app.amqp.publish(key, {}, { headers })
  const [seen] = await got.done
  t.match(seen, { s: 'text', i: 7, neg: -70000, big: 2 ** 40, f: 1.5, yes: true, nothing: null, list: [1, 'two', [3]], table: { a: { b: 'c' } }, u8: 255 })
  t.same(seen.bytes, Buffer.from([1, 2]))
  t.same(seen.stamp, { '!': 'timestamp', value: 1700000000 })
  t.same(seen.dec, { '!': 'decimal', value: { places: 2, digits: 1234 } })
  t.equal(seen['é'.repeat(127)], 'a 254-byte key')
})

t.test('a message amqplib throws on while writing fails alone with FST_AMQP_ENCODE, and the channel goes on (the publisher\'s last line of defence, behind the envelope\'s checks)', async (t) => {
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  await ch.assertQueue(key, { durable: false })
  const opts = normalizeOptions({ url: AMQP_URL })
  const conn = new Connection(opts, silentLog, transportFor(opts.urls))
  await conn.open()
  t.teardown(() => conn.close())
  const publisher = new Publisher(conn, { name: 'test', publishTimeout: 5000, bufferSize: 10, bufferBytes: 1 << 20, reopenDelay: 50, knownExchanges: [] }, silentLog)
  await publisher.start()
  t.teardown(() => publisher.close(1000))
  // Built by hand, past the envelope: amqplib itself is left to refuse it.
  const raw = (headers: Record<string, unknown>) => ({ kind: 'publish' as const, exchange: '', routingKey: key, content: Buffer.from('{}'), props: { headers, mandatory: true, messageId: uniqueName(t) }, bytes: 2, freshId: false })
  const bad = publisher.publish(raw({ s: Symbol('x') }))
  const good = publisher.publish(raw({ ok: 1 }))
  t.equal(await outcome(bad, 1000), 'FST_AMQP_ENCODE')
  t.equal(await outcome(good, 5000), 'resolved', 'the next message on the same channel is confirmed')
  t.equal((await ch.checkQueue(key)).messageCount, 1)
})
