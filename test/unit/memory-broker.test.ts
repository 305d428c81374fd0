import t, { type Test } from 'tap'
import { connectMemory, MemoryBroker, type MemoryChannel, type MemoryMessage } from '../../lib/transport/memory'

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

async function setup (t: Test, broker = new MemoryBroker()) {
  const conn = await connectMemory(broker)
  t.teardown(() => conn.close())
  const ch = await conn.createConfirmChannel()
  return { broker, conn, ch }
}

function collect (ch: MemoryChannel, queue: string, n: number, opts: Record<string, unknown> = {}): Promise<MemoryMessage[]> {
  const got: MemoryMessage[] = []
  return new Promise((resolve) => {
    ch.consume(queue, (m) => {
      if (m) got.push(m)
      if (got.length === n) resolve(got)
    }, opts)
  })
}

t.test('a message sent to a server-named queue arrives with amqplib\'s shape', async (t) => {
  const { ch } = await setup(t)
  const { queue } = await ch.assertQueue('', { exclusive: true })
  t.match(queue, /^amq\.gen-.{22}$/)
  ch.sendToQueue(queue, Buffer.from('hi'), { headers: { n: 1, d: new Date(0), u: undefined } })
  await ch.waitForConfirms()
  const [m] = await collect(ch, queue, 1)
  t.same(m.fields, { consumerTag: m.fields.consumerTag, deliveryTag: 1, redelivered: false, exchange: '', routingKey: queue })
  t.match(m.fields.consumerTag, /^amq\.ctag-/)
  t.same(m.properties.headers, { n: 1, d: {} })
  t.equal(m.properties.contentType, undefined)
  t.ok('clusterId' in m.properties)
})

t.test('topic, fanout and direct exchanges route through their bindings', async (t) => {
  const { ch } = await setup(t)
  await ch.assertExchange('t', 'topic', { durable: false })
  const { queue } = await ch.assertQueue('', { exclusive: true })
  await ch.bindQueue(queue, 't', 'a.*.c')
  await ch.bindQueue(queue, 'amq.fanout', '')
  ch.publish('t', 'a.b.c', Buffer.from('1'))
  ch.publish('t', 'a.b', Buffer.from('x'))
  ch.publish('amq.fanout', 'whatever', Buffer.from('2'))
  await ch.waitForConfirms()
  const got = await collect(ch, queue, 2, { noAck: true })
  t.same(got.map(m => m.content.toString()), ['1', '2'])
})

t.test('a requeued message goes back to its original position, redelivered', async (t) => {
  const { ch } = await setup(t)
  const { queue } = await ch.assertQueue('', { exclusive: true })
  for (let i = 1; i <= 5; i++) ch.sendToQueue(queue, Buffer.from(String(i)))
  await ch.waitForConfirms()
  const g = [await ch.get(queue), await ch.get(queue), await ch.get(queue)] as MemoryMessage[]
  ch.nack(g[1], false, true)
  ch.nack(g[0], false, true)
  const order: string[] = []
  for (;;) {
    const m = await ch.get(queue, { noAck: true })
    if (!m) break
    order.push(m.content.toString() + (m.fields.redelivered ? 'r' : ''))
  }
  t.same(order, ['1r', '2r', '4', '5'])
})

t.test('prefetch limits each consumer and consumers take turns', async (t) => {
  const { conn, ch } = await setup(t)
  const { queue } = await ch.assertQueue('', { exclusive: true })
  const ch2 = await conn.createChannel()
  await ch2.prefetch(1)
  const a: MemoryMessage[] = []
  const b: MemoryMessage[] = []
  await ch2.consume(queue, m => { a.push(m!) })
  await ch2.consume(queue, m => { b.push(m!) })
  for (let i = 0; i < 4; i++) ch.sendToQueue(queue, Buffer.from(String(i)))
  await ch.waitForConfirms()
  await sleep(10)
  t.same([a.length, b.length], [1, 1])
  ch2.ack(a[0])
  await sleep(10)
  t.same(a.map(m => m.content.toString()), ['0', '2'])
  await ch2.close()
  t.equal((await ch.checkQueue(queue)).messageCount, 3, 'unacked messages return when the channel closes')
})

t.test('an unknown delivery tag closes the channel with RabbitMQ\'s 406', async (t) => {
  const { ch } = await setup(t)
  const errors: Array<Error & { code?: number }> = []
  ch.on('error', e => errors.push(e))
  const closed = new Promise(resolve => ch.once('close', resolve))
  ch.ack({ fields: { deliveryTag: 7 } } as MemoryMessage)
  await closed
  t.equal(errors[0].message, 'Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - unknown delivery tag 7"')
  t.equal(errors[0].code, 406)
  t.throws(() => ch.publish('', 'q', Buffer.from('')), { name: 'IllegalOperationError', message: 'Channel closed' })
})

t.test('checkQueue on a missing queue rejects as amqplib does and closes the channel', async (t) => {
  const { ch } = await setup(t)
  ch.on('error', () => {})
  await t.rejects(ch.checkQueue('nope'), {
    message: 'Operation failed: QueueDeclare; 404 (NOT-FOUND) with message "NOT_FOUND - no queue \'nope\' in vhost \'/\'"', code: 404, classId: 50, methodId: 10
  })
  await t.rejects(ch.checkQueue('nope'), { name: 'IllegalOperationError' })
})

t.test('redeclaring with another argument gives RabbitMQ\'s inequivalent arg text', async (t) => {
  const { conn, ch } = await setup(t)
  await ch.assertQueue('q1', { durable: false })
  ch.on('error', () => {})
  await t.rejects(ch.assertQueue('q1', { durable: false, messageTtl: 200 }), {
    message: /inequivalent arg 'x-message-ttl' for queue 'q1' in vhost '\/': received the value '200' of type 'short' but current is none"$/
  })
  const ch2 = await conn.createChannel()
  ch2.on('error', () => {})
  await ch2.assertExchange('x', 'topic', { durable: false })
  await t.rejects(ch2.assertExchange('x', 'direct', { durable: false }), {
    message: /inequivalent arg 'type' for exchange 'x' in vhost '\/': received 'direct' but current is 'topic'"$/
  })
})

t.test('an unroutable mandatory message is returned before its confirm', async (t) => {
  const { ch } = await setup(t)
  const events: string[] = []
  ch.on('return', (m: MemoryMessage & { fields: { replyText: string } }) => events.push(`return ${m.fields.replyText}`))
  await new Promise<void>(resolve => ch.publish('', 'nowhere', Buffer.from('x'), { mandatory: true }, (err) => {
    events.push(`ack ${err}`)
    resolve()
  }))
  t.same(events, ['return NO_ROUTE', 'ack null'])
})

t.test('deleting a queue cancels its consumers with null', async (t) => {
  const { ch } = await setup(t)
  const { queue } = await ch.assertQueue('', { exclusive: true })
  const got: Array<MemoryMessage | null> = []
  await ch.consume(queue, m => got.push(m))
  t.same(await ch.deleteQueue(queue), { messageCount: 0 })
  t.same(got, [null])
})

t.test('x-overflow reject-publish nacks the publish', async (t) => {
  const { ch } = await setup(t)
  const { queue } = await ch.assertQueue('', { exclusive: true, maxLength: 1, arguments: { 'x-overflow': 'reject-publish' } })
  ch.sendToQueue(queue, Buffer.from('1'))
  await t.rejects(ch.waitForConfirms().then(() => new Promise<void>((resolve, reject) => {
    ch.sendToQueue(queue, Buffer.from('2'), {}, err => err ? reject(err) : resolve())
  })), { message: 'message nacked' })
})

t.test('disconnectAll drops connections as a lost socket and deletes their exclusive queues', async (t) => {
  const broker = new MemoryBroker()
  const conn = await connectMemory(broker)
  const ch = await conn.createChannel()
  await ch.assertQueue('ex', { exclusive: true })
  const events: string[] = []
  conn.on('error', () => events.push('error'))
  conn.on('close', (err?: Error) => events.push(`close ${err?.message}`))
  ch.on('close', () => events.push('channel close'))
  broker.disconnectAll(new Error('gone'))
  t.same(events, ['channel close', 'error', 'close gone'])
  t.equal(broker.queues.has('ex'), false)
})
