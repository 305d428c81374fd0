import type { Channel } from 'amqplib'
import { mismatchError } from './broker-errors'
import { FST_AMQP_TOPOLOGY } from './errors'
import type { ExchangeType } from './types'

/** @internal The types of queue RabbitMQ has. */
export type QueueType = 'classic' | 'quorum' | 'stream'

/** @internal The queue-name suffix of a consumer's n-th wait queue (retry after a delay). */
export function waitQueueName (queue: string, level: number): string {
  return `${queue}.retry.${level}`
}

/** @internal What a consumer needs declared: its exchange, its queue and the bindings between them. */
export interface ConsumerTopology {
  exchange: string
  exchangeType: ExchangeType
  /** A durable queue by this name, or (exclusive) a server-named one. */
  queue: string
  exclusive: boolean
  routingKeys: string[]
  /** Binding arguments (headers exchanges). */
  bindArgs: Record<string, unknown> | undefined
  /** Arguments the queue is declared with (x-queue-type, x-delivery-limit, x-max-length...). */
  queueArgs: Record<string, unknown> | undefined
  /** Its type; its wait queues and dead-letter queue are of the same (none for a stream). */
  queueType: QueueType
  /** Whether one consumer at a time receives (x-single-active-consumer). */
  singleActiveConsumer: boolean
  /** How many wait queues it may need for retries (attempts − 1, at most 10). */
  retryLevels: number
  /** Its dead-letter queue (durable), if any. */
  deadLetter: string | undefined
  /** The queue dead-letters to it by itself (a delivery limit): declared when the consumer starts, not on first need. */
  deadLetterAtStart: boolean
}

/** Runs one declaration, turning the broker's refusal into FST_AMQP_TOPOLOGY (or _MISMATCH) naming what was declared. */
async function declare<T> (what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op()
  } catch (err) {
    throw mismatchError(err) ?? new FST_AMQP_TOPOLOGY(what, (err as Error).message, { cause: err })
  }
}

/** @internal Declares a durable exchange; the broker refuses (406) if it exists with another type. */
export function declareExchange (ch: Channel, name: string, type: ExchangeType): Promise<unknown> {
  return declare(`${type} exchange "${name}"`, () => ch.assertExchange(name, type, { durable: true }))
}

/**
 * @internal
 * Declares a consumer's exchange, queue and bindings, and resolves with the
 * queue's name (the server's, for an exclusive one). Its wait queues and
 * dead-letter queue are declared on first need (see failure-queues.ts).
 */
export async function declareConsumer (ch: Channel, t: ConsumerTopology): Promise<string> {
  // RabbitMQ's default exchange ('') cannot be declared or bound: every queue is on it already.
  if (t.exchange !== '') await declareExchange(ch, t.exchange, t.exchangeType)
  const { queue } = t.exclusive
    ? await declare('an exclusive queue', () => ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false, arguments: t.queueArgs }))
    : await declare(`queue "${t.queue}"`, () => ch.assertQueue(t.queue, { durable: true, arguments: t.queueArgs }))
  if (t.exchange !== '') {
    for (const key of t.routingKeys) {
      await declare(`binding of queue "${queue}" to exchange "${t.exchange}" with key "${key}"`,
        () => ch.bindQueue(queue, t.exchange, key, t.bindArgs))
    }
  }
  return queue
}

/**
 * @internal
 * The arguments of a wait queue of `queue`. A quorum one dead-letters at
 * least once (RabbitMQ 3.10 and later; it needs reject-publish overflow):
 * a message that has waited out its delay stays in the wait queue until
 * `queue` has taken it, even if a node fails meanwhile.
 */
export function waitQueueArguments (queue: string, type: QueueType): Record<string, unknown> {
  const back = { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue }
  if (type !== 'quorum') return back
  return { 'x-queue-type': 'quorum', ...back, 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }
}

/**
 * @internal
 * Declares a wait queue of `queue`: a message waits out its retry delay (its
 * per-message TTL) there, then the broker dead-letters it back to `queue`
 * alone, through the default exchange, so other queues bound to the same key
 * do not see it again. Exclusive consumers get a server-named exclusive one,
 * owned by the connection it is declared on. A quorum queue's are quorum
 * queues. Resolves with its name.
 */
export async function declareWaitQueue (ch: Channel, queue: string, level: number, exclusive: boolean, type: QueueType = 'classic'): Promise<string> {
  const back = waitQueueArguments(queue, exclusive ? 'classic' : type)
  const declared = exclusive
    ? await declare('an exclusive wait queue', () => ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false, arguments: back }))
    : await declare(`wait queue "${waitQueueName(queue, level)}"`, () => ch.assertQueue(waitQueueName(queue, level), { durable: true, arguments: back }))
  return declared.queue
}

/** @internal Declares a (durable) dead-letter queue: a quorum queue for a quorum queue's. */
export async function declareDeadLetterQueue (ch: Channel, name: string, type: QueueType = 'classic'): Promise<string> {
  const args = type === 'quorum' ? { 'x-queue-type': 'quorum' } : undefined
  await declare(`dead-letter queue "${name}"`, () => ch.assertQueue(name, { durable: true, arguments: args }))
  return name
}
