import t, { type Test } from 'tap'
import { connectMemory, MemoryBroker, type MemoryMessage } from '../../lib/transport/memory'
import { headersMatch } from '../../lib/transport/memory/routing'

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

async function setup (t: Test) {
  const conn = await connectMemory(new MemoryBroker())
  t.teardown(() => conn.close())
  return { conn, ch: await conn.createConfirmChannel() }
}

t.test('an expired message is dead-lettered with x-death as RabbitMQ 3.10 writes it, and counts grow on each death', async (t) => {
  const { ch } = await setup(t)
  await ch.assertQueue('A', { durable: false, messageTtl: 30, deadLetterExchange: '', deadLetterRoutingKey: 'B' })
  await ch.assertQueue('B', { durable: false, deadLetterExchange: '', deadLetterRoutingKey: 'A' })
  ch.publish('', 'A', Buffer.from('m'), { expiration: '10', headers: { h: 1 } })
  await ch.waitForConfirms()
  await sleep(60)
  const m = await ch.get('B') as MemoryMessage
  t.equal(m.fields.routingKey, 'B')
  t.equal(m.properties.expiration, undefined)
  const deaths = m.properties.headers['x-death'] as Array<Record<string, unknown>>
  t.match(deaths, [{ count: 1, reason: 'expired', queue: 'A', exchange: '', 'routing-keys': ['A'], 'original-expiration': '10', time: { '!': 'timestamp' } }])
  t.match(m.properties.headers, { h: 1, 'x-first-death-exchange': '', 'x-first-death-queue': 'A', 'x-first-death-reason': 'expired' })
  t.notOk('x-last-death-reason' in m.properties.headers)
  ch.reject(m, false)
  await sleep(80)
  const again = await ch.get('B', { noAck: true }) as MemoryMessage
  const next = again.properties.headers['x-death'] as Array<Record<string, unknown>>
  t.same(next.map(d => [d.queue, d.reason, d.count]), [['A', 'expired', 2], ['B', 'rejected', 1]])
})

t.test('a message never expires while unacked, and expires at the head in real time', async (t) => {
  const { ch } = await setup(t)
  const { queue } = await ch.assertQueue('', { exclusive: true, messageTtl: 20 })
  ch.sendToQueue(queue, Buffer.from('1'))
  await ch.waitForConfirms()
  const held = await ch.get(queue) as MemoryMessage
  ch.sendToQueue(queue, Buffer.from('2'))
  await ch.waitForConfirms()
  await sleep(50)
  t.equal((await ch.checkQueue(queue)).messageCount, 0, 'the ready one expired')
  ch.nack(held, false, true)
  await sleep(5)
  t.equal((await ch.checkQueue(queue)).messageCount, 0, 'requeued past its TTL, it expires at once')
})

t.test('max-length drops the head, dead-lettering it with reason maxlen', async (t) => {
  const { ch } = await setup(t)
  await ch.assertQueue('dlq', { durable: false })
  await ch.assertQueue('C', { durable: false, maxLength: 1, deadLetterExchange: '', deadLetterRoutingKey: 'dlq' })
  ch.sendToQueue('C', Buffer.from('c1'))
  ch.sendToQueue('C', Buffer.from('c2'))
  await ch.waitForConfirms()
  const m = await ch.get('dlq') as MemoryMessage
  t.equal(m.content.toString(), 'c1')
  t.match(m.properties.headers['x-death'], [{ reason: 'maxlen', queue: 'C', 'routing-keys': ['C'] }])
})

t.test('direct reply-to rewrites replyTo and delivers the reply to the consuming channel', async (t) => {
  const { conn, ch } = await setup(t)
  const replies: MemoryMessage[] = []
  await ch.consume('amq.rabbitmq.reply-to', m => { replies.push(m!) }, { noAck: true })
  await ch.assertQueue('srv', { durable: false })
  const server = await conn.createChannel()
  await server.consume('srv', (m) => {
    server.sendToQueue(m!.properties.replyTo!, Buffer.from('pong'), { correlationId: '1' })
    server.ack(m!)
  })
  ch.sendToQueue('srv', Buffer.from('ping'), { replyTo: 'amq.rabbitmq.reply-to' })
  await sleep(20)
  t.equal(replies.length, 1)
  t.match(replies[0].fields.routingKey, /^amq\.rabbitmq\.reply-to\./)
  t.equal(replies[0].properties.correlationId, '1')
})

t.test('publishing with replyTo amq.rabbitmq.reply-to without its consumer closes the channel', async (t) => {
  const { ch } = await setup(t)
  const err = new Promise<Error>(resolve => ch.once('error', resolve))
  ch.publish('', 'x', Buffer.from(''), { replyTo: 'amq.rabbitmq.reply-to' })
  t.match((await err).message, /PRECONDITION_FAILED - fast reply consumer does not exist/)
})

t.test('headers matching follows x-match all, any and the -with-x variants', async (t) => {
  t.ok(headersMatch({ 'x-match': 'all', a: 1, b: 'x' }, { a: 1, b: 'x', c: 2 }))
  t.notOk(headersMatch({ a: 1, b: 'x' }, { a: 1 }))
  t.ok(headersMatch({ 'x-match': 'any', a: 1, b: 'x' }, { b: 'x' }))
  t.ok(headersMatch({ 'x-match': 'all', 'x-k': 1 }, {}), 'x- arguments are ignored by all')
  t.notOk(headersMatch({ 'x-match': 'all-with-x', 'x-k': 1 }, {}))
  t.ok(headersMatch({ 'x-match': 'any-with-x', 'x-k': 1 }, { 'x-k': 1 }))
  t.ok(headersMatch({ a: null }, { a: 'anything' }), 'a void argument asks only for presence')
})
