import { FST_AMQP_INVALID_ARGUMENT } from './errors'
import { assertInteger, describe } from './options'
import { OFFSET_NAMES, type StreamOffset } from './stream-offset'
import type { QueueType } from './topology'
import type { ConsumeOptions } from './types'

/*
 * A consumer's queue type, and the options that depend on it, checked
 * together before anything is declared: a delivery limit for quorum queues
 * only, an offset for streams only, and nothing RabbitMQ would refuse (an
 * exclusive quorum queue, a single active consumer or a consumer priority
 * on a stream) or that would not do what it says (retries on a stream).
 * Every failure is FST_AMQP_INVALID_ARGUMENT naming the option.
 */

const ARG = FST_AMQP_INVALID_ARGUMENT

function assertBoolean (name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ARG(name, `expected a boolean, got ${describe(value)}`)
  return value
}

const QUEUE_TYPES: readonly QueueType[] = ['classic', 'quorum', 'stream']

function assertQueueType (name: string, value: unknown): QueueType {
  if (!QUEUE_TYPES.includes(value as QueueType)) throw new ARG(name, `expected "classic", "quorum" or "stream", got ${describe(value)}`)
  return value as QueueType
}

/**
 * The queue's type: the consumer's `queueType`, else an x-queue-type in its
 * queueArguments, else the plugin's default. An exclusive queue is classic:
 * RabbitMQ has no exclusive quorum queue or stream.
 */
function normalizeQueueType (o: ConsumeOptions, args: Record<string, unknown> | undefined, exclusive: boolean, fallback: QueueType): QueueType {
  const given = o.queueType === undefined ? undefined : assertQueueType('options.queueType', o.queueType)
  const argued = args?.['x-queue-type'] === undefined ? undefined : assertQueueType('options.queueArguments.x-queue-type', args['x-queue-type'])
  if (given !== undefined && argued !== undefined && given !== argued) {
    throw new ARG('options.queueType', `"${given}" contradicts the x-queue-type "${argued}" in queueArguments`)
  }
  const explicit = given ?? argued
  if (exclusive) {
    if (explicit !== undefined && explicit !== 'classic') {
      throw new ARG(given !== undefined ? 'options.queueType' : 'options.queueArguments.x-queue-type', `an exclusive queue is always a classic queue: RabbitMQ has no exclusive ${explicit} queue`)
    }
    return 'classic'
  }
  return explicit ?? fallback
}

/** Throws unless the option agrees with the same x- argument in queueArguments, when both are given. */
function assertAgrees (option: string, value: unknown, args: Record<string, unknown> | undefined, arg: string): void {
  const argued = args?.[arg]
  if (argued !== undefined && argued !== value) throw new ARG(`options.${option}`, `${describe(value)} contradicts the ${arg} ${describe(argued)} in queueArguments`)
}

/** Where a stream consumer starts reading. */
function normalizeOffset (value: unknown): StreamOffset {
  if (typeof value === 'string' && OFFSET_NAMES.includes(value)) return value as StreamOffset
  if (typeof value === 'number') return assertInteger('options.offset', value, 0, Number.MAX_SAFE_INTEGER, ARG)
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime()) || value.getTime() < 0) throw new ARG('options.offset', 'expected a valid Date, from 1970 on')
    return new Date(value.getTime())
  }
  throw new ARG('options.offset', `expected "first", "last", "next", an offset (an integer from 0) or a Date, got ${describe(value)}`)
}

/** @internal What a queue's type decides about a consumer, checked together. */
export interface QueueSettings {
  type: QueueType
  deliveryLimit: number | undefined
  singleActiveConsumer: boolean
  priority: number | undefined
  offset: StreamOffset | undefined
}

/**
 * @internal
 * The options that depend on the queue's type: a delivery limit counts
 * redeliveries in a quorum queue only, a stream has an offset and no
 * retries, dead-letter queue, single active consumer or consumer priority
 * (RabbitMQ 3.10 refuses the last two on a stream).
 */
export function normalizeQueueSettings (o: ConsumeOptions, args: Record<string, unknown> | undefined, exclusive: boolean, fallback: QueueType): QueueSettings {
  const type = normalizeQueueType(o, args, exclusive, fallback)
  const kind = exclusive ? 'an exclusive queue, always classic' : `a ${type} queue`
  let deliveryLimit: number | undefined
  if (o.deliveryLimit !== undefined) {
    if (type !== 'quorum') throw new ARG('options.deliveryLimit', `only a quorum queue counts redeliveries, and this consumer's is ${kind}: set queueType "quorum"`)
    deliveryLimit = assertInteger('options.deliveryLimit', o.deliveryLimit, 1, 2 ** 31 - 1, ARG)
    assertAgrees('deliveryLimit', deliveryLimit, args, 'x-delivery-limit')
  }
  let singleActiveConsumer = args?.['x-single-active-consumer'] === true
  if (o.singleActiveConsumer !== undefined) {
    singleActiveConsumer = assertBoolean('options.singleActiveConsumer', o.singleActiveConsumer)
    if (singleActiveConsumer && exclusive) throw new ARG('options.singleActiveConsumer', 'an exclusive queue has a single consumer already')
    if (singleActiveConsumer && type === 'stream') throw new ARG('options.singleActiveConsumer', 'RabbitMQ 3.10 has no single active consumer on streams (every stream consumer reads every message)')
    assertAgrees('singleActiveConsumer', singleActiveConsumer, args, 'x-single-active-consumer')
  }
  let priority: number | undefined
  if (o.priority !== undefined) {
    priority = assertInteger('options.priority', o.priority, -1000, 1000, ARG)
    if (type === 'stream') throw new ARG('options.priority', 'a stream delivers every message to every consumer, and RabbitMQ refuses consumer priorities on streams')
  }
  let offset: StreamOffset | undefined
  if (type === 'stream') {
    offset = o.offset === undefined ? 'next' : normalizeOffset(o.offset)
    // A stream is a log: a message cannot be requeued or removed, so there is nothing to retry nor dead-letter.
    if (o.retry !== undefined && o.retry !== false) throw new ARG('options.retry', 'a stream consumer has no retries: a message cannot be put back in a stream; a failed one is logged and passed over')
    if (o.deadLetter !== undefined && o.deadLetter !== false) throw new ARG('options.deadLetter', 'a stream consumer has no dead-letter queue: a message cannot be removed from a stream; a failed one is logged and passed over')
  } else if (o.offset !== undefined) {
    throw new ARG('options.offset', `an offset is where a stream consumer starts reading, and this consumer's queue is ${kind}: set queueType "stream"`)
  }
  return { type, deliveryLimit, singleActiveConsumer, priority, offset }
}

/**
 * @internal
 * The queue's arguments: the user's, and those of the first-class options.
 * A classic queue gets no x-queue-type, so that a queue declared before the
 * option existed stays equivalent. With a delivery limit, a message past
 * it is dead-lettered by the broker to the consumer's dead-letter queue
 * (unless the user routes dead letters elsewhere).
 */
export function queueArguments (user: Record<string, unknown> | undefined, q: QueueSettings, deadLetter: string | undefined): { args: Record<string, unknown> | undefined, deadLetterAtStart: boolean } {
  const args: Record<string, unknown> = {}
  if (q.type !== 'classic') args['x-queue-type'] = q.type
  Object.assign(args, user)
  let deadLetterAtStart = false
  if (q.deliveryLimit !== undefined) {
    args['x-delivery-limit'] = q.deliveryLimit
    if (deadLetter !== undefined && user?.['x-dead-letter-exchange'] === undefined && user?.['x-dead-letter-routing-key'] === undefined) {
      args['x-dead-letter-exchange'] = ''
      args['x-dead-letter-routing-key'] = deadLetter
      deadLetterAtStart = true
    }
  }
  if (q.singleActiveConsumer) args['x-single-active-consumer'] = true
  return { args: user === undefined && Object.keys(args).length === 0 ? undefined : args, deadLetterAtStart }
}
