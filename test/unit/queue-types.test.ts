import t from 'tap'
import { normalizeConsumeArgs } from '../../lib/core/call-options'
import { normalizeOptions } from '../../lib/core/options'
import { deliveredOffset, offsetArgument, StreamCursor } from '../../lib/core/stream-offset'
import { waitQueueArguments } from '../../lib/core/topology'

/*
 * Queue types and what depends on them, decided before anything is
 * declared: the queue's arguments, its wait and dead-letter queues, and
 * every combination RabbitMQ would refuse (or that would not do what it says).
 */

const defaults = normalizeOptions({ url: 'amqp://localhost' })
const quorumByDefault = normalizeOptions({ url: 'amqp://localhost', queueType: 'quorum' })
const handler = async () => {}

function spec (options: Record<string, unknown>, plugin = defaults) {
  return normalizeConsumeArgs('orders', handler, options, plugin).spec
}

t.test('a classic queue is declared without x-queue-type, so queues declared by earlier versions stay equivalent', async (t) => {
  t.equal(spec({}).topology.queueArgs, undefined, 'no arguments at all by default')
  t.equal(spec({ queueType: 'classic' }).topology.queueArgs, undefined, 'nor for an explicit classic')
  t.same(spec({ queueArguments: { 'x-max-length': 5 } }).topology.queueArgs, { 'x-max-length': 5 }, 'the user\'s arguments as given')
  t.same(spec({ queueArguments: { 'x-queue-type': 'classic' } }).topology.queueArgs, { 'x-queue-type': 'classic' }, 'a classic x-queue-type the user gave is kept')
  t.equal(spec({}).topology.queueType, 'classic')
})

t.test('quorum and stream queues are declared with x-queue-type; so is the plugin-wide default, except for an exclusive queue', async (t) => {
  t.same(spec({ queueType: 'quorum' }).topology.queueArgs, { 'x-queue-type': 'quorum' })
  t.same(spec({ queueType: 'stream' }).topology.queueArgs, { 'x-queue-type': 'stream' })
  t.same(spec({}, quorumByDefault).topology.queueArgs, { 'x-queue-type': 'quorum' }, 'the plugin\'s default')
  t.same(spec({ queueType: 'classic' }, quorumByDefault).topology.queueArgs, undefined, 'a consumer may still choose classic')
  const exclusive = normalizeConsumeArgs('k', handler, { exclusive: true }, quorumByDefault).spec.topology
  t.equal(exclusive.queueType, 'classic', 'an exclusive queue stays classic under a quorum default, silently')
  t.equal(exclusive.queueArgs, undefined)
  t.equal(spec({ queueArguments: { 'x-queue-type': 'quorum' } }).topology.queueType, 'quorum', 'an x-queue-type in queueArguments alone sets the type')
  t.same(spec({ queueType: 'quorum', queueArguments: { 'x-queue-type': 'quorum', 'x-max-length': 5 } }).topology.queueArgs, { 'x-queue-type': 'quorum', 'x-max-length': 5 }, 'and may repeat it')
})

t.test('a quorum consumer\'s wait queues dead-letter at least once; a classic one\'s are as before', async (t) => {
  t.same(waitQueueArguments('orders', 'quorum'), {
    'x-queue-type': 'quorum',
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': 'orders',
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish'
  })
  t.same(waitQueueArguments('orders', 'classic'), { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'orders' })
})

t.test('deliveryLimit sets x-delivery-limit and routes what passes it to the dead-letter queue, unless the user routes dead letters', async (t) => {
  const limited = spec({ queueType: 'quorum', deliveryLimit: 3 }).topology
  t.same(limited.queueArgs, { 'x-queue-type': 'quorum', 'x-delivery-limit': 3, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'orders.dlq' })
  t.equal(limited.deadLetterAtStart, true, 'the dead-letter queue is declared when the consumer starts')
  const named = spec({ queueType: 'quorum', deliveryLimit: 3, deadLetter: 'poison' }).topology
  t.equal(named.queueArgs?.['x-dead-letter-routing-key'], 'poison', 'to a named dead-letter queue')
  const none = spec({ queueType: 'quorum', deliveryLimit: 3, deadLetter: false }).topology
  t.same(none.queueArgs, { 'x-queue-type': 'quorum', 'x-delivery-limit': 3 }, 'without a dead-letter queue the broker drops it')
  t.equal(none.deadLetterAtStart, false)
  const own = spec({ queueType: 'quorum', deliveryLimit: 3, queueArguments: { 'x-dead-letter-exchange': 'dead' } }).topology
  t.same(own.queueArgs, { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': 'dead', 'x-delivery-limit': 3 }, 'the user\'s own dead-letter exchange wins')
  t.equal(own.deadLetterAtStart, false)
  t.equal(spec({ queueType: 'quorum', queueArguments: { 'x-delivery-limit': 3 } }).topology.deadLetterAtStart, false, 'an x-delivery-limit in queueArguments is left as it was')
  t.same(spec({ deliveryLimit: 2 }, quorumByDefault).topology.queueArgs?.['x-delivery-limit'], 2, 'quorum by the plugin\'s default is quorum')
})

t.test('singleActiveConsumer sets x-single-active-consumer; so does the argument alone', async (t) => {
  const sac = spec({ singleActiveConsumer: true }).topology
  t.same(sac.queueArgs, { 'x-single-active-consumer': true })
  t.equal(sac.singleActiveConsumer, true)
  t.equal(spec({ queueArguments: { 'x-single-active-consumer': true } }).topology.singleActiveConsumer, true)
  t.equal(spec({ singleActiveConsumer: false }).topology.queueArgs, undefined)
})

t.test('priority is the consumer\'s x-priority, from -1000 to 1000', async (t) => {
  t.equal(spec({ priority: 10 }).priority, 10)
  t.equal(spec({ priority: -1000 }).priority, -1000)
  t.equal(spec({}).priority, undefined)
  t.equal(spec({ priority: 5 }).topology.queueArgs, undefined, 'not a queue argument')
})

t.test('a stream consumer reads from "next" by default, with no retries and no dead-letter queue', async (t) => {
  const s = spec({ queueType: 'stream' })
  t.equal(s.offset, 'next')
  t.equal(s.retry.attempts, 1)
  t.equal(s.topology.retryLevels, 0)
  t.equal(s.topology.deadLetter, undefined)
  t.equal(spec({ queueType: 'stream', retry: false, deadLetter: false }).offset, 'next', 'saying so is allowed')
  for (const offset of ['first', 'last', 'next', 0, 42]) t.equal(spec({ queueType: 'stream', offset }).offset, offset)
  const at = new Date('2024-05-01T12:00:00.750Z')
  t.same(spec({ queueType: 'stream', offset: at }).offset, at, 'a Date')
  t.equal(spec({}).offset, undefined, 'no offset for other queues')
})

const bad: Array<[string, Record<string, unknown>, string, typeof defaults?]> = [
  ['an unknown queue type', { queueType: 'lazy' }, 'options.queueType'],
  ['an unknown x-queue-type', { queueArguments: { 'x-queue-type': 'lazy' } }, 'options.queueArguments.x-queue-type'],
  ['a queueType the arguments contradict', { queueType: 'quorum', queueArguments: { 'x-queue-type': 'classic' } }, 'options.queueType'],
  ['an exclusive quorum queue', { exclusive: true, queue: undefined, queueType: 'quorum' }, 'options.queueType'],
  ['an exclusive stream', { exclusive: true, queueType: 'stream' }, 'options.queueType'],
  ['an exclusive quorum queue by its arguments', { exclusive: true, queueArguments: { 'x-queue-type': 'quorum' } }, 'options.queueArguments.x-queue-type'],
  ['a delivery limit on a classic queue', { deliveryLimit: 3 }, 'options.deliveryLimit'],
  ['a delivery limit on a stream', { queueType: 'stream', deliveryLimit: 3 }, 'options.deliveryLimit'],
  ['a delivery limit on an exclusive queue, under a quorum default', { exclusive: true, deliveryLimit: 3 }, 'options.deliveryLimit', quorumByDefault],
  ['a delivery limit of 0', { queueType: 'quorum', deliveryLimit: 0 }, 'options.deliveryLimit'],
  ['a fractional delivery limit', { queueType: 'quorum', deliveryLimit: 1.5 }, 'options.deliveryLimit'],
  ['a delivery limit the arguments contradict', { queueType: 'quorum', deliveryLimit: 3, queueArguments: { 'x-delivery-limit': 5 } }, 'options.deliveryLimit'],
  ['a single active consumer that is not a boolean', { singleActiveConsumer: 'yes' }, 'options.singleActiveConsumer'],
  ['a single active consumer of an exclusive queue', { exclusive: true, singleActiveConsumer: true }, 'options.singleActiveConsumer'],
  ['a single active consumer of a stream', { queueType: 'stream', singleActiveConsumer: true }, 'options.singleActiveConsumer'],
  ['a single active consumer the arguments contradict', { singleActiveConsumer: false, queueArguments: { 'x-single-active-consumer': true } }, 'options.singleActiveConsumer'],
  ['a priority out of range', { priority: 1001 }, 'options.priority'],
  ['a fractional priority', { priority: 0.5 }, 'options.priority'],
  ['a priority on a stream', { queueType: 'stream', priority: 1 }, 'options.priority'],
  ['an offset on a classic queue', { offset: 'first' }, 'options.offset'],
  ['an offset on a quorum queue', { queueType: 'quorum', offset: 0 }, 'options.offset'],
  ['an unknown offset name', { queueType: 'stream', offset: 'earliest' }, 'options.offset'],
  ['a negative offset', { queueType: 'stream', offset: -1 }, 'options.offset'],
  ['a fractional offset', { queueType: 'stream', offset: 1.5 }, 'options.offset'],
  ['an invalid Date', { queueType: 'stream', offset: new Date('nope') }, 'options.offset'],
  ['a Date before 1970', { queueType: 'stream', offset: new Date(-1000) }, 'options.offset'],
  ['retries on a stream', { queueType: 'stream', retry: { attempts: 3 } }, 'options.retry'],
  ['a dead-letter queue on a stream', { queueType: 'stream', deadLetter: true }, 'options.deadLetter'],
  ['a named dead-letter queue on a stream', { queueType: 'stream', deadLetter: 'dead' }, 'options.deadLetter']
]

for (const [what, options, name, plugin] of bad) {
  t.test(`consume() refuses ${what} with FST_AMQP_INVALID_ARGUMENT naming ${name}`, async (t) => {
    const { queue, exclusive, ...rest } = options
    const given = exclusive === true ? { exclusive, ...rest } : { queue, ...rest }
    t.throws(() => normalizeConsumeArgs('orders', handler, given, plugin ?? defaults), { code: 'FST_AMQP_INVALID_ARGUMENT', message: new RegExp(`"${name.replace(/\./g, '\\.')}"`) })
  })
}

t.test('the plugin-wide queueType is classic or quorum: streams are chosen per consumer', async (t) => {
  t.equal(defaults.queueType, 'classic')
  t.equal(quorumByDefault.queueType, 'quorum')
  t.throws(() => normalizeOptions({ url: 'amqp://localhost', queueType: 'stream' }), { code: 'FST_AMQP_INVALID_OPTION', message: /queueType.*per consumer/ })
  t.throws(() => normalizeOptions({ url: 'amqp://localhost', queueType: 'lazy' }), { code: 'FST_AMQP_INVALID_OPTION', message: /queueType/ })
})

t.test('a Date offset goes as an AMQP timestamp of whole seconds; names and numbers as they are', async (t) => {
  t.same(offsetArgument(new Date('2024-05-01T12:00:00.750Z')), { '!': 'timestamp', value: 1714564800 })
  t.equal(offsetArgument('first'), 'first')
  t.equal(offsetArgument(7), 7)
})

t.test('only a non-negative safe integer in x-stream-offset is trusted as an offset', async (t) => {
  t.equal(deliveredOffset({ 'x-stream-offset': 0 }), 0)
  t.equal(deliveredOffset({ 'x-stream-offset': 12 }), 12)
  for (const forged of [-1, 1.5, 2 ** 53, '3', null, { '!': 'long', value: 3 }, undefined]) {
    t.equal(deliveredOffset({ 'x-stream-offset': forged }), undefined, `not ${JSON.stringify(forged)}`)
  }
  t.equal(deliveredOffset(undefined), undefined)
})

t.test('a stream cursor resumes after the last message handled, or at the oldest still in flight', async (t) => {
  const cursor = new StreamCursor('first')
  t.equal(cursor.start(), 'first', 'the configured offset the first time')
  const done = [0, 1, 2].map((n) => cursor.delivered({ 'x-stream-offset': n }))
  done[0]()
  done[2]()
  t.equal(cursor.start(), 1, 'offset 1 was still being handled: it comes again')
  done[1]()
  cursor.delivered({ 'x-stream-offset': 1 })()
  cursor.delivered({ 'x-stream-offset': 2 })()
  t.equal(cursor.start(), 3, 'after the last handled')
  t.equal(cursor.last, 2)
  t.equal(cursor.start(), 3, 'a subscription that got nothing restarts where it started')
  cursor.delivered({ 'x-stream-offset': 'forged' })()
  t.equal(cursor.start(), 3, 'a message without a valid offset moves nothing')
})

t.test('a stream cursor that started at "next" and got nothing restarts at the second it subscribed, so that nothing published meanwhile is skipped', async (t) => {
  const cursor = new StreamCursor('next')
  t.equal(cursor.start(1714564800750), 'next')
  t.same(cursor.start(1714564900000), new Date(1714564800750))
  t.same(offsetArgument(cursor.start(1714565000000)), { '!': 'timestamp', value: 1714564800 }, 'and stays there until it gets something')
})
