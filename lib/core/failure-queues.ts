import type { Channel } from 'amqplib'
import type { Connection } from './connection'
import { FST_AMQP_NOT_CONNECTED } from './errors'
import type { Log } from './log'
import { declareDeadLetterQueue, declareWaitQueue, waitQueueName, type ConsumerTopology } from './topology'

/*
 * A consumer's wait queues and dead-letter queue, declared on first need
 * rather than when it starts: a consumer that only answers requests (never
 * retried) or never fails leaves no extra queue on the broker. A copy that
 * comes back unroutable (its queue was deleted) makes the queue be forgotten
 * and declared again: the consumer's own channel is never closed for it.
 *
 * A quorum queue's are quorum queues. One that exists as a classic queue
 * (declared by a version of the plugin that made them classic) is used as
 * it is, with a warning, rather than left refusing every failed message.
 */

/** The arguments a classic wait or dead-letter queue lacks (or has otherwise) that a quorum one is declared with. */
const QUORUM_ARGUMENTS = new Set(['x-queue-type', 'x-dead-letter-strategy', 'x-overflow'])

/** Whether `err` says the queue exists as a classic queue where a quorum one was declared. */
function existsAsClassic (err: unknown): boolean {
  const e = err as { code?: unknown, argument?: unknown, actual?: unknown }
  return e?.code === 'FST_AMQP_TOPOLOGY_MISMATCH' && typeof e.argument === 'string' && QUORUM_ARGUMENTS.has(e.argument) &&
    (e.actual === '(not set)' || (e.argument === 'x-queue-type' && typeof e.actual === 'string' && e.actual.startsWith('classic')))
}

const noop = () => {}

/** @internal */
export class FailureQueues {
  /** Declarations made or under way, by level (wait queues) or 0 (the dead-letter queue). */
  private readonly declared = new Map<number, { promise: Promise<string>, name?: string }>()
  /** Server-named wait queues of an exclusive consumer, declared on this connection. */
  private readonly exclusiveWaits = new Set<string>()
  private queue: string

  constructor (private readonly conn: Connection, private readonly topology: ConsumerTopology, private readonly log: Log) {
    this.queue = topology.queue
  }

  /**
   * Starts over for the queue as (re)declared: an exclusive consumer gets a
   * new server-named queue, and its old wait queues went with the old connection.
   */
  reset (queue: string): void {
    this.queue = queue
    this.declared.clear()
    this.exclusiveWaits.clear()
  }

  /** Whether `name` is one of this consumer's wait queues. */
  readonly isWaitQueue = (name: string): boolean => {
    if (this.topology.exclusive) return this.exclusiveWaits.has(name)
    const prefix = `${this.queue}.retry.`
    if (!name.startsWith(prefix)) return false
    const level = name.slice(prefix.length)
    return /^[1-9]\d?$/.test(level) && Number(level) <= this.topology.retryLevels
  }

  /** The wait queue of `level` (1-based), declared if need be. */
  waitQueue (level: number): Promise<string> {
    const { exclusive, queueType } = this.topology
    return this.ensure(level, async (ch) => {
      const name = await declareWaitQueue(ch, this.queue, level, exclusive, queueType)
      if (exclusive) this.exclusiveWaits.add(name)
      return name
    }, exclusive ? undefined : waitQueueName(this.queue, level))
  }

  /** The dead-letter queue, declared if need be. */
  deadLetterQueue (): Promise<string> {
    const name = this.topology.deadLetter!
    return this.ensure(0, (ch) => declareDeadLetterQueue(ch, name, this.topology.exclusive ? 'classic' : this.topology.queueType), name)
  }

  /** Declares `name` again before its next use (it was found missing). */
  forget (name: string): void {
    for (const [key, entry] of this.declared) if (entry.name === name) this.declared.delete(key)
    this.exclusiveWaits.delete(name)
  }

  /** Single flight per queue; a failed declaration is tried again next time. */
  private ensure (key: number, declare: (ch: Channel) => Promise<string>, name?: string): Promise<string> {
    let entry = this.declared.get(key)
    if (entry === undefined) {
      const made: { promise: Promise<string>, name?: string } = { promise: this.declareOrUseClassic(declare, name) }
      made.promise.then((name) => { made.name = name }, () => { if (this.declared.get(key) === made) this.declared.delete(key) })
      this.declared.set(key, made)
      entry = made
    }
    return entry.promise
  }

  /**
   * Declares the queue; a quorum consumer's queue `name` that exists as a
   * classic queue is used as it is (checked to exist), with a warning.
   */
  private async declareOrUseClassic (declare: (ch: Channel) => Promise<string>, name: string | undefined): Promise<string> {
    try {
      return await this.onThrowawayChannel(declare)
    } catch (err) {
      if (name === undefined || this.topology.queueType !== 'quorum' || !existsAsClassic(err)) throw err
      await this.onThrowawayChannel(async (ch) => { await ch.checkQueue(name) })
      this.log.warn({ queue: this.queue, existing: name, err }, 'amqp queue of a quorum consumer exists as a classic queue: it is used as it is, on one node only; delete it when empty to have it declared as a quorum queue')
      return name
    }
  }

  /**
   * Declares on a channel of its own on the consuming connection (an
   * exclusive queue must belong to the connection that consumes it): a
   * refused declaration closes that channel, not the consumer's.
   */
  private async onThrowawayChannel<T> (declare: (ch: Channel) => Promise<T>): Promise<T> {
    const model = this.conn.current
    if (!model) throw new FST_AMQP_NOT_CONNECTED('the consuming connection is down')
    const ch = await model.createChannel()
    ch.on('error', noop) // a refused declaration is reported by declare()
    try {
      return await declare(ch)
    } finally {
      ch.close().catch(noop)
    }
  }
}
