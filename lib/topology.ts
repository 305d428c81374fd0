import type { Channel } from 'amqplib'
import { FST_AMQP_TOPOLOGY } from './errors'
import type { ExchangeType } from './types'

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
}

/** Runs one declaration, turning the broker's refusal into FST_AMQP_TOPOLOGY naming what was declared. */
async function declare<T> (what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op()
  } catch (err) {
    throw new FST_AMQP_TOPOLOGY(what, (err as Error).message, { cause: err })
  }
}

/** @internal Declares a durable exchange; the broker refuses (406) if it exists with another type. */
export function declareExchange (ch: Channel, name: string, type: ExchangeType): Promise<unknown> {
  return declare(`${type} exchange "${name}"`, () => ch.assertExchange(name, type, { durable: true }))
}

/** @internal Declares exchange, queue and bindings; resolves with the queue's name. */
export async function declareConsumer (ch: Channel, t: ConsumerTopology): Promise<string> {
  // RabbitMQ's default exchange ('') cannot be declared or bound: every queue is on it already.
  if (t.exchange !== '') await declareExchange(ch, t.exchange, t.exchangeType)
  const { queue } = t.exclusive
    ? await declare('an exclusive queue', () => ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false }))
    : await declare(`queue "${t.queue}"`, () => ch.assertQueue(t.queue, { durable: true }))
  if (t.exchange !== '') {
    for (const key of t.routingKeys) {
      await declare(`binding of queue "${queue}" to exchange "${t.exchange}" with key "${key}"`,
        () => ch.bindQueue(queue, t.exchange, key, t.bindArgs))
    }
  }
  return queue
}
