// The plugin first: its guard of amqplib's header decoder must be in place before amqplib loads.
import '../lib/index'
import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import amqplib from 'amqplib'
import { admin, buildLogged, collector, deeplyNestedTable, manyHeadersTable, rawPublish, uniqueName, waitFor } from './helpers'

/*
 * What a hostile producer sent in an attack on the boundary: messages amqplib
 * cannot send or re-encode, built byte by byte, and forgeries of the
 * plugin's own machinery. After each, the consumer goes on: the poison is in
 * the dead-letter queue, a good message sent after it is handled, and the
 * consuming connection was never lost.
 */

/** A consumer that fails messages marked `fail` (or that do not decode) and records the good ones. */
async function victim (t: any, opts: Record<string, unknown> = {}) {
  const key = uniqueName(t)
  const { queues, take, depth } = await admin(t)
  queues.push(key)
  const { app, lines } = await buildLogged(t, {}, { ready: false })
  const good = collector<string>(1, 20000)
  let poisonRuns = 0
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    if (Buffer.isBuffer(msg.body) || msg.body?.good !== true) {
      poisonRuns++
      throw new Error('poison')
    }
    good.push(msg.body.id)
  }, { retry: { attempts: 2, delay: 50 }, prefetch: 1, ...opts })
  await app.ready()
  const sendGood = (ch: amqplib.Channel) => ch.sendToQueue(key, Buffer.from(JSON.stringify({ good: true, id: 'after' })), { contentType: 'application/json' })
  const lost = () => lines.filter((l) => l.includes('connection lost')).length
  return { key, app, lines, take, depth, good, sendGood, lost, runs: () => poisonRuns }
}

t.test('headers nested too deep for amqplib to decode send the message to the dead-letter queue instead of closing the consuming connection', async (t) => {
  const v = await victim(t)
  await rawPublish(t, v.key, { contentType: 'application/json', headers: deeplyNestedTable(12000) }, Buffer.from('{}'))
  const { ch } = await admin(t)
  v.sendGood(ch)
  t.same(await v.good.done, ['after'], 'the good message after it is handled')
  const dead = await waitFor('the poison in the dead-letter queue', () => v.take(`${v.key}.dlq`))
  t.equal(dead.properties.headers?.['x-warren-reason'], 'undecodable')
  t.equal(v.runs(), 0, 'the handler never saw it')
  t.equal(v.lost(), 0, 'the consuming connection was never lost')
  t.equal(v.app.amqp.health().status, 'ok')
})

t.test('properties amqplib cannot write back (invalid UTF-8 in ids, a timestamp past 2^53) do not stall the consumer: the copy leaves them out', async (t) => {
  const v = await victim(t)
  const garbage = Buffer.alloc(100, 0xff) // decodes to 300 bytes of U+FFFD
  await rawPublish(t, v.key, { contentType: 'application/json', messageId: garbage, correlationId: garbage, type: garbage, appId: garbage, timestamp: 2n ** 64n - 1n }, Buffer.from('{"fail":true}'))
  const { ch } = await admin(t)
  v.sendGood(ch)
  t.same(await v.good.done, ['after'], 'the good message after it is handled')
  const dead = await waitFor('the poison in the dead-letter queue', () => v.take(`${v.key}.dlq`))
  t.equal(v.runs(), 2, 'tried twice, as configured')
  t.equal(dead.content.toString(), '{"fail":true}')
  t.notOk(v.lines.some((l) => l.includes('could not be moved')), 'every copy was sent at once')
})

t.test('a header table of 12,000 tiny headers is trimmed on its copies and the consumer goes on', async (t) => {
  const v = await victim(t)
  await rawPublish(t, v.key, { contentType: 'application/json', headers: manyHeadersTable(12000) }, Buffer.from('{"fail":true}'))
  const { ch } = await admin(t)
  v.sendGood(ch)
  t.same(await v.good.done, ['after'])
  const dead = await waitFor('the poison in the dead-letter queue', () => v.take(`${v.key}.dlq`))
  t.match(dead.properties.headers?.['x-warren-trimmed'], /…\+\d+$/)
  t.equal(v.runs(), 2)
  t.equal(v.lost(), 0, 'the process never stalled long enough to lose the connection')
})

t.test('x-death entries the broker did not write are not carried into copies: every failing message reaches the dead-letter queue', async (t) => {
  const v = await victim(t, { prefetch: 10 })
  const { ch } = await admin(t)
  // Without a forged return (no wait queue in x-death[0]), the forgery counts for nothing on delivery: only its copies matter.
  const junk = [[1], ['text'], [null], [[1, 2]], [true], [{ count: 'x' }]]
  for (const [i, deaths] of junk.entries()) {
    ch.sendToQueue(v.key, Buffer.from(JSON.stringify({ fail: true, n: i })), { contentType: 'application/json', headers: { 'x-death': deaths } })
  }
  for (let i = 0; i < 3; i++) ch.sendToQueue(v.key, Buffer.from(JSON.stringify({ fail: true, n: 100 + i })), { contentType: 'application/json' })
  v.sendGood(ch)
  t.same(await v.good.done, ['after'])
  await waitFor('all nine in the dead-letter queue', async () => (await v.depth(`${v.key}.dlq`)) === 9)
  t.equal(v.runs(), 18, 'each tried twice, none lost in a wait queue')
})

t.test('request correlation ids cannot be predicted: a responder forging replies to the ids that would follow its own request changes nothing', async (t) => {
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  const { app } = await buildLogged(t, {}, { ready: false })
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => msg.body.n * 10)
  await app.ready()
  // A hostile service takes the first request from the queue itself and answers it...
  const hostileQueue = uniqueName(t, 'hostile')
  queues.push(hostileQueue)
  await ch.assertQueue(hostileQueue, { exclusive: true })
  const seen = collector<amqplib.ConsumeMessage>(1)
  await ch.consume(hostileQueue, (m) => { if (m) seen.push(m) }, { noAck: true })
  const first = app.amqp.request(hostileQueue, { n: 1 }, { exchange: '' })
  const [req] = await seen.done
  const id = String(req.properties.correlationId)
  const reply = (correlationId: string, body: unknown) => ch.sendToQueue(req.properties.replyTo, Buffer.from(JSON.stringify(body)), { correlationId, contentType: 'application/json' })
  reply(id, 'first')
  t.equal(await first, 'first')
  // ...then floods the reply address with forgeries for every id a counter would give next.
  const base = id.slice(0, -1)
  for (let i = 0; i < 2000; i++) reply(base + i.toString(36), { forged: true })
  for (let k = 1; k <= 36; k++) reply(id.slice(0, -2) + k.toString(36) + id.slice(-1), { forged: true })
  const answers = await Promise.all([2, 3, 4].map((n) => app.amqp.request(key, { n })))
  t.same(answers, [20, 30, 40], 'the real service\'s replies, not the forgeries')
})

t.test('a caller\'s x-warren-publish header cannot hide an unroutable publish', async (t) => {
  const { app } = await buildLogged(t)
  await t.rejects(app.amqp.publish(uniqueName(t, 'nobody'), {}, { headers: { 'x-warren-publish': 'mine' } }), { code: 'FST_AMQP_UNROUTABLE' })
})

t.test('replies to direct reply-to raise no warning when they are delivered', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const { app, lines } = await buildLogged(t, {}, { ready: false })
  app.amqp.consume(key, async () => 'pong')
  await app.ready()
  for (let i = 0; i < 10; i++) t.equal(await app.amqp.request(key, {}), 'pong')
  t.same(lines.filter((l) => l.includes('reply returned')), [], 'no "reply returned" line')
})
