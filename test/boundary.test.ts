import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import { admin, amqplibTableSize, buildLogged, collector, tally, uniqueName, waitFor } from './helpers'

/*
 * Messages from outside: a foreign or buggy producer publishes straight to a
 * consumer's queue (the default exchange) with whatever headers it likes.
 * Nothing it sends may loop, multiply or stall delivery for anyone else.
 */

/** Log lines that mean a consumer's channel was closed (and so every message in flight on it redelivered). */
const CHANNEL_CLOSED = /amqp channel error|channel closed by the broker|restarting (it|the consumer)/

t.test('forged x-warren-attempts headers never loop or multiply: each message is tried at most 3 times and dead-lettered once, good messages are handled once, and no channel closes', async (t) => {
  const key = uniqueName(t)
  const { ch, queues, depth, drain } = await admin(t)
  queues.push(key)
  const { app, lines } = await buildLogged(t, {}, { ready: false })
  const handled: string[] = []
  const goods = collector<string>(100, 30000)
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    handled.push(msg.body.id)
    if (msg.body.good) return goods.push(msg.body.id)
    throw new Error(`${msg.body.id} always fails`)
  }, { retry: { attempts: 3, delay: 100 } })
  await app.ready()

  const forged = [-5, 0, 0.5, 'abc', 1e9, 99]
  const failing = ['normal', ...forged.map((v) => `forged ${v}`)]
  const send = (body: object, headers?: Record<string, unknown>) =>
    ch.sendToQueue(key, Buffer.from(JSON.stringify(body)), { contentType: 'application/json', headers })
  send({ id: 'normal' })
  forged.forEach((v) => send({ id: `forged ${v}` }, { 'x-warren-attempts': v }))
  for (let i = 0; i < 100; i++) send({ id: `good ${i}`, good: true })

  await goods.done
  await waitFor('every failing message in the dead-letter queue', async () => (await depth(`${key}.dlq`)) >= failing.length)
  // A copy that loops would show up again within a retry delay or two: a
  // sentinel with the same policy, sent now, reaches the dead-letter queue
  // after its own three tries, by which time any loop would have shown.
  send({ id: 'sentinel' })
  await waitFor('the sentinel in the dead-letter queue', async () => (await depth(`${key}.dlq`)) >= failing.length + 1)

  const counts = tally(handled)
  t.comment(`handled: ${failing.map((id) => `${id} ×${counts[id]}`).join(', ')}; each of the 100 good ×${[...new Set(Array.from({ length: 100 }, (_, i) => counts[`good ${i}`]))].join(' or ×')}`)
  t.equal(counts.normal, 3, 'the normal failing message is tried exactly 3 times')
  for (const id of failing.slice(1)) t.ok(counts[id] >= 1 && counts[id] <= 3, `${id} is tried ${counts[id]} times (1 to 3)`)
  for (let i = 0; i < 100; i++) t.equal(counts[`good ${i}`], 1, `good ${i} is handled exactly once`)

  const dead = await drain(`${key}.dlq`)
  const deadIds = tally(dead.map((m) => JSON.parse(m.content.toString()).id))
  t.same(deadIds, Object.fromEntries([...failing, 'sentinel'].map((id) => [id, 1])), 'every failing message is in the dead-letter queue exactly once')
  t.equal((await ch.checkQueue(key)).messageCount, 0, 'nothing left in the queue')
  t.same(lines.filter((l) => CHANNEL_CLOSED.test(l)), [], 'no consumer channel was closed')
})

t.test('forged x-warren-routing-key and x-warren-exchange do not change what the handler sees as the routing key and exchange', async (t) => {
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  const { app } = await buildLogged(t, {}, { ready: false })
  const got = collector<WarrenMessage>(2)
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => { got.push(msg) })
  await app.ready()
  const forged = { 'x-warren-routing-key': 'admin.delete-all', 'x-warren-exchange': 'admin', 'x-warren-attempts': 1 }
  ch.sendToQueue(key, Buffer.from('{}'), { contentType: 'application/json', headers: forged })
  // The same forgery with a made-up x-death claiming the message came back from a wait queue.
  const death = [{ count: 1, reason: 'expired', queue: `${key}.retry.1`, time: { '!': 'timestamp', value: 1 }, exchange: '', 'routing-keys': [`${key}.retry.1`] }]
  ch.sendToQueue(key, Buffer.from('{}'), { contentType: 'application/json', headers: { ...forged, 'x-death': death } })
  for (const msg of await got.done) {
    t.equal(msg.routingKey, key, 'the routing key the message really carried')
    t.equal(msg.exchange, '', 'the exchange it really came through')
  }
})

/**
 * Headers that encode to exactly `bytes` bytes as an AMQP table (amqplib
 * refuses a table over 65,536): the largest a foreign producer can send,
 * leaving no room for a header more.
 */
function bulkyHeaders (bytes: number): Record<string, string> {
  const headers: Record<string, string> = {}
  const size = () => amqplibTableSize(headers)
  for (let i = 0; size() + 1010 <= bytes; i++) headers[`h${String(i).padStart(3, '0')}`] = 'x'.repeat(1000)
  headers.last = ''
  headers.last = 'x'.repeat(bytes - size())
  if (size() !== bytes) throw new Error(`bulkyHeaders: ${size()} bytes, not ${bytes}`)
  return headers
}

for (const [what, body, contentType, failure] of [
  ['that does not decode', '{not json', 'application/json', 'undecodable'],
  ['whose handler always fails', '{"fail":true}', 'application/json', 'handler-failed']
] as const) {
  t.test(`a foreign message with 64 KB of headers ${what} leaves the queue for the dead-letter queue, and the app's publishes keep confirming`, async (t) => {
    const key = uniqueName(t)
    const other = uniqueName(t, 'other')
    const { ch, queues, drain } = await admin(t)
    queues.push(key, other)
    await ch.assertQueue(other, { durable: false })
    const { app, lines } = await buildLogged(t, { publishTimeout: 3000 }, { ready: false })
    app.amqp.consume(key, async () => { throw new Error('no') }, { retry: { attempts: 2, delay: 50 } })
    await app.ready()
    const headers = bulkyHeaders(65500) // just under amqplib's 64 KiB limit for a table
    ch.sendToQueue(key, Buffer.from(body), { contentType, headers, messageId: 'poison' })

    const confirmed = []
    const deadline = Date.now() + 60000
    let dead: Awaited<ReturnType<typeof drain>> = []
    // Publish steadily while the poison is handled: every publish must confirm.
    while (dead.length === 0 && Date.now() < deadline) {
      confirmed.push(await app.amqp.publish(other, { n: confirmed.length }, { exchange: '' }))
      if (confirmed.length % 20 === 0) dead = await drain(`${key}.dlq`)
    }
    t.equal(dead.length, 1, 'the poison is in the dead-letter queue')
    t.ok(confirmed.length > 0, `${confirmed.length} publishes confirmed meanwhile, none failed`)
    const h = dead[0].properties.headers ?? {}
    t.equal(dead[0].properties.messageId, 'poison')
    t.equal(h['x-warren-reason'], failure)
    t.equal(dead[0].content.toString(), body, 'with its body')
    const kept = Object.keys(headers).filter((name) => h[name] === headers[name]).length
    const all = Object.keys(headers).length
    t.ok(kept > 0, `${kept} of its ${all} headers kept`)
    if (kept < all) t.ok(h['x-warren-trimmed'], 'and a record of what was trimmed')
    t.equal((await ch.checkQueue(key)).messageCount, 0, 'the main queue is empty')
    t.ok(lines.some((l) => l.includes('dead-letter queue') && (kept === all || l.includes('"trimmed"'))), 'and it was logged, with what was trimmed')
  })
}

t.test('a reply whose reply_to names no queue is logged, with its correlation id', async (t) => {
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  const { app, lines } = await buildLogged(t, {}, { ready: false })
  app.amqp.consume(key, async () => 42)
  await app.ready()
  const nowhere = uniqueName(t, 'nowhere')
  ch.sendToQueue(key, Buffer.from('{}'), { contentType: 'application/json', replyTo: nowhere, correlationId: 'c-17' })
  const line = await waitFor('a log line about the reply', () => lines.find((l) => l.includes(nowhere)))
  t.match(JSON.parse(line), { replyTo: nowhere, correlationId: 'c-17', msg: /reply/ })
  t.equal((await ch.checkQueue(key)).messageCount, 0, 'the request itself was acked')
})
