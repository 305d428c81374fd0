import t from 'tap'
import type { ConsumeMessage } from 'amqplib'
import { Envelope, HEADERS, type ConsumerView, type Outgoing } from '../../lib/core/envelope'
import { measureTable } from '../../lib/core/headers'
import { silentLog } from '../../lib/core/log'

/*
 * The envelope, without a broker: deliveries are the plain objects amqplib
 * hands the consumer, including what a foreign producer may forge.
 */

const view: ConsumerView = {
  queue: 'orders',
  exchange: 'warren',
  exchangeType: 'topic',
  routingKeys: ['orders.*'],
  isWaitQueue: (name) => /^orders\.retry\.[12]$/.test(name),
  log: silentLog
}

function envelope (opts: Partial<ConstructorParameters<typeof Envelope>[0]> = {}): Envelope {
  return new Envelope({ appId: 'svc', maxMessageSize: 1000, brokerMaxMessageSize: () => undefined, frameMax: () => 131072, ...opts })
}

/** A delivery as amqplib gives it. */
function delivery (headers: Record<string, unknown> | undefined, fields: Partial<ConsumeMessage['fields']> = {}, props: Record<string, unknown> = {}, body = '{"n":1}'): ConsumeMessage {
  return {
    content: Buffer.from(body),
    fields: { deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'orders', consumerTag: 'c', ...fields },
    properties: { contentType: 'application/json', headers, ...props }
  } as unknown as ConsumeMessage
}

/** The x-death RabbitMQ writes when a message expires in `queue` and is dead-lettered back. */
const death = (queue: string) => [{ count: 1, reason: 'expired', queue, exchange: '', 'routing-keys': [queue], time: { '!': 'timestamp', value: 1 } }]

t.test('a delivery is the first attempt, with its own routing key and exchange, whatever x-warren headers it carries', async (t) => {
  for (const attempts of [-5, 0, 0.5, 'abc', 1e9, 99, 2, null, [2], { n: 2 }]) {
    const d = envelope().open(delivery({ [HEADERS.attempts]: attempts, [HEADERS.routingKey]: 'admin.delete-all', [HEADERS.exchange]: 'admin' }), view)
    t.equal(d.attempt, 1, `x-warren-attempts ${JSON.stringify(attempts)}: first attempt`)
    t.equal(d.msg.routingKey, 'orders', 'its own routing key')
    t.equal(d.msg.exchange, '', 'its own exchange')
  }
})

t.test('a delivery that really came back from a wait queue counts its attempt and shows where it was first published', async (t) => {
  const d = envelope().open(delivery({ [HEADERS.attempts]: 2, [HEADERS.routingKey]: 'orders.created', [HEADERS.exchange]: 'warren', 'x-death': death('orders.retry.2') }), view)
  t.equal(d.attempt, 3)
  t.equal(d.msg.attempt, 3)
  t.equal(d.msg.routingKey, 'orders.created')
  t.equal(d.msg.exchange, 'warren')
})

t.test('a return from a wait queue is told from the delivery, not from headers alone', async (t) => {
  const forged = { [HEADERS.attempts]: 2, [HEADERS.routingKey]: 'orders.created', [HEADERS.exchange]: 'warren' }
  const cases: Array<[string, ConsumeMessage]> = [
    ['no x-death', delivery(forged)],
    ['x-death of another queue', delivery({ ...forged, 'x-death': death('elsewhere') })],
    ['x-death of a wait queue level this consumer has not', delivery({ ...forged, 'x-death': death('orders.retry.7') })],
    ['x-death with another reason', delivery({ ...forged, 'x-death': [{ ...death('orders.retry.1')[0], reason: 'rejected' }] })],
    ['x-death that is not a list', delivery({ ...forged, 'x-death': 'orders.retry.1' })],
    ['published to an exchange', delivery({ ...forged, 'x-death': death('orders.retry.1') }, { exchange: 'warren', routingKey: 'orders.x' })],
    ['routed with another key', delivery({ ...forged, 'x-death': death('orders.retry.1') }, { routingKey: 'other' })]
  ]
  for (const [what, raw] of cases) t.equal(envelope().open(raw, view).attempt, 1, what)
})

t.test('a recorded origin the consumer\'s bindings would not have routed is ignored, even on a real return', async (t) => {
  const back = (exchange: unknown, routingKey: unknown) => envelope().open(delivery({ [HEADERS.attempts]: 1, [HEADERS.exchange]: exchange, [HEADERS.routingKey]: routingKey, 'x-death': death('orders.retry.1') }), view).msg
  t.match(back('warren', 'orders.created'), { exchange: 'warren', routingKey: 'orders.created' }, 'a key its binding matches')
  t.match(back('warren', 'admin.delete-all'), { exchange: '', routingKey: 'orders' }, 'a key it is not bound to')
  t.match(back('admin', 'orders.created'), { exchange: '', routingKey: 'orders' }, 'another exchange')
  t.match(back('', 'orders'), { exchange: '', routingKey: 'orders' }, 'the default exchange, to this queue')
  t.match(back('', 'payments'), { exchange: '', routingKey: 'orders' }, 'the default exchange, to another queue')
  t.match(back(42, ['x']), { exchange: '', routingKey: 'orders' }, 'values that are not strings')
})

t.test('reply_to, correlation and message ids are taken only when they are strings, and an empty reply_to is none', async (t) => {
  const d = envelope().open(delivery(undefined, {}, { replyTo: '', correlationId: 'c', messageId: 'm' }), view)
  t.equal(d.replyTo, undefined)
  t.equal(d.correlationId, 'c')
  t.equal(d.messageId, 'm')
  t.same(d.msg.headers, {}, 'no headers: an empty object')
  t.same(envelope().open(delivery(undefined, {}, { replyTo: 'amq.rabbitmq.reply-to.x' }), view).replyTo, 'amq.rabbitmq.reply-to.x')
})

t.test('a body that does not decode is reported, not thrown', async (t) => {
  const d = envelope().open(delivery(undefined, {}, {}, '{nope'), view)
  t.match(d.decodeError, { code: 'FST_AMQP_DECODE' })
})

t.test('every outgoing message is checked: headers it cannot carry, headers too large, a body over either limit', async (t) => {
  const e = envelope()
  const o = { mandatory: true, persistent: true, headers: undefined, expiration: undefined, priority: undefined, messageId: undefined, correlationId: undefined, contentType: undefined }
  t.throws(() => e.publish('x', 'k', {}, { ...o, headers: { s: Symbol('x') } }), { code: 'FST_AMQP_INVALID_HEADER', header: 's' })
  t.throws(() => e.publish('x', 'k', {}, { ...o, headers: { a: 'x'.repeat(40000), b: 'y'.repeat(30000) } }), { code: 'FST_AMQP_HEADERS_TOO_LARGE', header: 'a' })
  t.throws(() => e.publish('x', 'k', 'x'.repeat(1001), o), { code: 'FST_AMQP_MESSAGE_TOO_LARGE', message: /maxMessageSize/ })
  const learnt = envelope({ maxMessageSize: 1000, brokerMaxMessageSize: () => 500 })
  t.throws(() => learnt.publish('x', 'k', 'x'.repeat(501), o), { code: 'FST_AMQP_MESSAGE_TOO_LARGE', message: /broker's max_message_size/ })
  t.throws(() => e.request('x', 'k', {}, 'c1', 1000, { f: () => 1 }), { code: 'FST_AMQP_INVALID_HEADER' })
  const small = envelope({ frameMax: () => 8192 })
  t.throws(() => small.publish('x', 'k', {}, { ...o, headers: { a: 'x'.repeat(5000) } }), { code: 'FST_AMQP_HEADERS_TOO_LARGE' }, 'a small frame bounds headers too')
  const m = e.publish('x', 'k', { a: 1 }, { ...o, headers: { h: 'v' } })
  t.equal(m.bytes, m.content.length + measureTable({ h: 'v' }), 'bytes: the body and the encoded headers')
  t.match(m.props, { appId: 'svc', contentType: 'application/json', persistent: true, mandatory: true, messageId: /^[\w-]{13,}$/ })
})

t.test('the hooks see every kind of outgoing message once, and every delivery read', async (t) => {
  const e = envelope()
  const seen: string[] = []
  e.outgoingHooks.push((m: Outgoing) => seen.push(m.kind))
  e.incomingHooks.push((d) => seen.push(`in:${d.msg.routingKey}`))
  const o = { mandatory: true, persistent: true, headers: undefined, expiration: undefined, priority: undefined, messageId: undefined, correlationId: undefined, contentType: undefined }
  e.publish('x', 'k', 1, o)
  e.request('x', 'k', 1, 'c', 100, undefined)
  e.reply('r', 'c', 1)
  e.errorReply('r', 'c', new Error('x'))
  const d = e.open(delivery(undefined), view)
  e.forward(d, { exchange: 'x', routingKey: 'next' }, 2)
  e.copy(d, view, { queue: 'orders.retry.1', delay: 10 }, { reason: 'handler-failed', attempt: 1, error: new Error('x') })
  e.copy(d, view, { queue: 'orders.dlq' }, { reason: 'handler-failed', attempt: 3, error: new Error('x') })
  t.same(seen, ['publish', 'request', 'reply', 'error-reply', 'in:orders', 'forward', 'retry', 'dead-letter'])
})

t.test('a copy records the failure, keeps the original\'s properties, and carries no x-death the broker would choke on', async (t) => {
  const raw = delivery({ tenant: 'acme', [HEADERS.attempts]: 1, [HEADERS.exchange]: 'warren', [HEADERS.routingKey]: 'orders.created', 'x-death': [...death('orders.retry.1'), { ...death('elsewhere')[0], reason: 'rejected' }], 'x-first-death-queue': 'orders.retry.1', 'x-first-death-reason': 'expired' },
    {}, { messageId: 'm-1', correlationId: 'c-1', deliveryMode: 2, userId: 'guest', expiration: '100', type: 't', priority: 3 })
  const e = envelope()
  const d = e.open(raw, view)
  const copy = e.copy(d, view, { queue: 'orders.dlq' }, { reason: 'handler-failed', attempt: 2, error: Object.assign(new Error('no stock'), { code: 'E_STOCK' }) })
  t.match(copy, { exchange: '', routingKey: 'orders.dlq', kind: 'dead-letter' })
  t.match(copy.props, { messageId: 'm-1', correlationId: 'c-1', type: 't', priority: 3, persistent: true, mandatory: true, expiration: undefined })
  t.equal((copy.props as Record<string, unknown>).userId, undefined, 'no user id: the broker refuses one not its own')
  t.match(copy.props.headers, { tenant: 'acme', [HEADERS.attempts]: 2, [HEADERS.reason]: 'handler-failed', [HEADERS.errorMessage]: 'no stock', [HEADERS.errorCode]: 'E_STOCK', [HEADERS.queue]: 'orders', [HEADERS.exchange]: 'warren', [HEADERS.routingKey]: 'orders.created' })
  t.equal(copy.props.headers?.['x-death'], undefined, 'no x-death: RabbitMQ 3.10 crashes a queue dead-lettering one it did not write')
  t.equal(copy.props.headers?.['x-first-death-queue'], undefined)
  const wait = e.copy(d, view, { queue: 'orders.retry.2', delay: 250 }, { reason: 'handler-failed', attempt: 2, error: 'a string thrown' })
  t.match(wait.props, { expiration: '250', persistent: true, headers: { [HEADERS.errorMessage]: 'a string thrown' } })
})

t.test('a copy whose headers would not fit is trimmed, the plugin\'s first, then the original\'s largest, and says what was cut', async (t) => {
  const e = envelope()
  const room = e.maxHeaderBytes()
  // The original alone fills almost all the room: the plugin's headers cannot all fit.
  const original: Record<string, unknown> = { small: 'keep me', big: 'x'.repeat(room - 300) }
  const d = e.open(delivery(original), view)
  const copy = e.copy(d, view, { queue: 'orders.dlq' }, { reason: 'handler-failed', attempt: 1, error: new Error('e'.repeat(5000)) })
  const h = copy.props.headers!
  t.ok(measureTable(h) <= room, 'it fits')
  t.equal(h.big, original.big, 'the original\'s headers are kept while dropping ours is enough')
  t.equal(h[HEADERS.reason], 'handler-failed')
  t.match(h[HEADERS.trimmed], /x-warren-error-message/)

  const huge = e.open(delivery({ small: 'keep me', a: 'a'.repeat(room - 200), b: 'b'.repeat(100) }), view)
  const cut = e.copy(huge, view, { queue: 'orders.dlq' }, { reason: 'undecodable', attempt: 1, error: new Error('bad json') })
  t.ok(measureTable(cut.props.headers!) <= room, 'it fits')
  t.equal(cut.props.headers!.a, undefined, 'the largest original header went')
  t.equal(cut.props.headers!.small, 'keep me', 'the small ones stay')
  t.match(cut.props.headers![HEADERS.trimmed], /(^|,)a(,|$)/, 'and x-warren-trimmed names it')
})

t.test('errors that throw from their getters are described, never rethrown', async (t) => {
  const e = envelope()
  const hostile = { get message (): string { throw new Error('no') }, get code (): string { throw new Error('no') } }
  const d = e.open(delivery(undefined), view)
  const copy = e.copy(d, view, { queue: 'orders.dlq' }, { reason: 'handler-failed', attempt: 1, error: hostile })
  t.type(copy.props.headers?.[HEADERS.errorMessage], 'string')
  const reply = e.errorReply('r', 'c', hostile)
  t.match(JSON.parse(reply.content.toString()), { error: { message: /could not be read/ } })
})

t.test('openReply() turns an error reply into FST_AMQP_RPC_REMOTE_ERROR, reading only string fields', async (t) => {
  const e = envelope()
  const reply = (body: string, headers?: Record<string, unknown>) => delivery(headers, {}, {}, body)
  t.same(e.openReply(reply('{"price":3}'), 'k'), { price: 3 })
  t.throws(() => e.openReply(reply('{"error":{"message":"gone","code":"E_GONE"}}', { 'x-warren-error': 'E_GONE' }), 'k'), { code: 'FST_AMQP_RPC_REMOTE_ERROR', remote: { message: 'gone', code: 'E_GONE' } })
  t.throws(() => e.openReply(reply('{"error":{"message":{"a":1},"code":7}}', { 'x-warren-error': 'x' }), 'k'), { code: 'FST_AMQP_RPC_REMOTE_ERROR', remote: { message: undefined, code: undefined } })
  t.throws(() => e.openReply(reply('null', { 'x-warren-error': 'x' }), 'k'), { code: 'FST_AMQP_RPC_REMOTE_ERROR' })
  t.throws(() => e.openReply(reply('{nope'), 'k'), { code: 'FST_AMQP_DECODE' })
})

t.test('a copy of a message with thousands of tiny headers is trimmed in one pass and lists how many more it cut', async (t) => {
  const e = envelope()
  const headers: Record<string, unknown> = {}
  for (let i = 0; i < 12000; i++) headers[`k${i}`] = true
  const d = e.open(delivery(headers), view)
  const copy = e.copy(d, view, { queue: 'orders.dlq' }, { reason: 'handler-failed', attempt: 1, error: new Error('x') })
  const h = copy.props.headers!
  t.ok(measureTable(h) <= e.maxHeaderBytes(), 'it fits')
  t.equal(h[HEADERS.reason], 'handler-failed')
  t.match(h[HEADERS.trimmed], /…\+\d+$/, 'x-warren-trimmed ends with how many more were cut')
  t.ok(String(h[HEADERS.trimmed]).length <= 1000)
})

t.test('a copy carries only properties amqplib can write back', async (t) => {
  const e = envelope()
  const long = '\uFFFD'.repeat(100) // 300 bytes: what 100 invalid UTF-8 bytes decode to
  const raw = delivery(undefined, {}, { messageId: long, correlationId: long, type: long, appId: long, contentEncoding: long, timestamp: 2 ** 64, priority: 300 })
  const d = e.open(raw, view)
  t.equal(d.messageId, undefined)
  t.equal(d.correlationId, undefined)
  const copy = e.copy(d, view, { queue: 'orders.dlq' }, { reason: 'undecodable', attempt: 1, error: new Error('x') })
  t.match(copy.props, { messageId: /^[\w-]{13,}$/, correlationId: undefined, type: undefined, appId: 'svc', contentEncoding: undefined, timestamp: undefined, priority: undefined })
  const reply = e.open(delivery(undefined, {}, { replyTo: long }), view)
  t.equal(reply.replyTo, undefined, 'a reply_to too long to use is none')
})

t.test('a header named __proto__ is an ordinary header, never the prototype of msg.headers', async (t) => {
  const forged = { 'x-warren-attempts': 40, 'x-death': [{ reason: 'expired', queue: 'orders.retry.1' }] }
  const headers: Record<string, unknown> = { tenant: 'acme' }
  Object.setPrototypeOf(headers, forged) // what amqplib's decoder does with a "__proto__" key
  const d = envelope().open(delivery(headers), view)
  t.equal(d.attempt, 1)
  t.equal(Object.getPrototypeOf(d.msg.headers), Object.prototype)
  t.same(Object.keys(d.msg.headers), ['tenant', '__proto__'])
  t.equal(d.msg.headers['x-warren-attempts'], undefined)
})

t.test('replies to a direct reply-to address are not mandatory (RabbitMQ returns them though it delivers them); others are', async (t) => {
  const e = envelope()
  t.equal(e.reply('amq.rabbitmq.reply-to.abc', 'c', 1).props.mandatory, false)
  t.equal(e.errorReply('amq.rabbitmq.reply-to.abc', 'c', new Error('x')).props.mandatory, false)
  t.equal(e.reply('my-replies', 'c', 1).props.mandatory, true)
})

t.test('a caller cannot set the publisher\'s own token header, and later changes to its headers object do not reach the message', async (t) => {
  const e = envelope()
  const o = { mandatory: true, persistent: true, expiration: undefined, priority: undefined, messageId: undefined, correlationId: undefined, contentType: undefined }
  const headers: Record<string, unknown> = { 'x-warren-publish': 'mine', tenant: 'acme' }
  const m = e.publish('x', 'k', 1, { ...o, headers })
  headers.tenant = 'changed'
  t.same(m.props.headers, { tenant: 'acme' })
})

t.test('headers whose reading throws, even null, are refused with FST_AMQP_INVALID_HEADER', async (t) => {
  const e = envelope()
  const o = { mandatory: true, persistent: true, expiration: undefined, priority: undefined, messageId: undefined, correlationId: undefined, contentType: undefined }
  const getter = { get tenant (): string { throw new Error('no') } }
  // eslint-disable-next-line no-throw-literal
  const proxy = new Proxy({}, { ownKeys () { throw null } })
  // eslint-disable-next-line no-throw-literal
  const decimal = { d: { '!': 'decimal', value: { places: 1, get digits (): number { throw null } } } }
  t.throws(() => e.publish('x', 'k', 1, { ...o, headers: getter }), { code: 'FST_AMQP_INVALID_HEADER', header: 'tenant' })
  t.throws(() => e.publish('x', 'k', 1, { ...o, headers: proxy }), { code: 'FST_AMQP_INVALID_HEADER' })
  t.throws(() => e.publish('x', 'k', 1, { ...o, headers: decimal }), { code: 'FST_AMQP_INVALID_HEADER', header: 'd' })
  // eslint-disable-next-line no-throw-literal
  t.throws(() => e.publish('x', 'k', { toJSON () { throw null } }, { ...o, headers: undefined }), { code: 'FST_AMQP_ENCODE' })
})

t.test('a header the copy cannot write back is dropped alone: the others and the plugin\'s own stay', async (t) => {
  const e = envelope()
  const d = e.open(delivery({ keep: 'me', stamp: { '!': 'timestamp', value: 2 ** 64 } }), view)
  const copy = e.copy(d, view, { queue: 'orders.dlq' }, { reason: 'handler-failed', attempt: 1, error: Object.assign(new Error('boom'), { code: 'E_X' }) })
  const h = copy.props.headers!
  t.equal(h.keep, 'me')
  t.equal(h.stamp, undefined)
  t.match(h, { [HEADERS.errorMessage]: 'boom', [HEADERS.errorCode]: 'E_X', [HEADERS.trimmed]: 'stamp' })
  t.type(h[HEADERS.failedAt], 'string')
})

t.test('a reply\'s error header and a forward\'s headers are read as own keys, __proto__ included', async (t) => {
  const e = envelope()
  const headers: Record<string, unknown> = { tenant: 'acme' }
  Object.setPrototypeOf(headers, { 'x-warren-error': 'E_FORGED' })
  t.same(e.openReply(delivery(headers, {}, {}, '{"price":1}'), 'k'), { price: 1 }, 'an inherited x-warren-error does not make an error reply')
  const d = e.open(delivery(headers), view)
  const next = e.forward(d, { exchange: 'x', routingKey: 'n' }, 1)
  t.same(Object.keys(next.props.headers!), ['tenant', '__proto__'], 'the forwarded headers keep __proto__ as a key')
})
