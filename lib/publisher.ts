import { randomUUID } from 'node:crypto'
import type { ConfirmChannel, Message, Options } from 'amqplib'
import { closeError, ManagedChannel } from './channel'
import type { Connection } from './connection'
import {
  FST_AMQP_CLOSED,
  FST_AMQP_EXCHANGE_NOT_FOUND,
  FST_AMQP_NOT_CONNECTED,
  FST_AMQP_PUBLISH_NACKED,
  FST_AMQP_PUBLISH_UNCONFIRMED,
  FST_AMQP_UNROUTABLE
} from './errors'
import { InFlight } from './in-flight'
import type { Log } from './log'

/** @internal */
export interface PublisherOptions {
  name: string
  /** Wait for a connection at most this long, in milliseconds. */
  publishTimeout: number
  reopenDelay: number
  /** Sent as app_id on every message, unless the message sets one: the service's name. */
  appId: string
  /** Exchanges known to exist (declared by us); others are checked once before the first publish. */
  knownExchanges: string[]
  /** Extra setup on every new channel (the RPC client consumes direct reply-to here). */
  setup?: (ch: ConfirmChannel) => Promise<void>
}

/** @internal The message id is required: it is how a basic.return is matched to its publish. */
export type PublishProperties = Options.Publish & { messageId: string }

/**
 * @internal
 * Publishes on a confirm channel and resolves when the broker confirms.
 * A mandatory message the broker returns (basic.return precedes basic.ack)
 * rejects with FST_AMQP_UNROUTABLE.
 */
export class Publisher {
  readonly channel: ManagedChannel<ConfirmChannel>
  private readonly returned = new WeakMap<ConfirmChannel, Set<string>>()
  private readonly exchanges = new Map<string, Promise<void> | true>()
  private readonly inFlight = new InFlight()
  private closed = false

  constructor (private readonly conn: Connection, private readonly opts: PublisherOptions, log: Log) {
    for (const name of ['', ...opts.knownExchanges]) this.exchanges.set(name, true)
    this.channel = new ManagedChannel<ConfirmChannel>(conn, {
      name: opts.name,
      confirm: true,
      reopenDelay: opts.reopenDelay,
      setup: async (ch) => {
        const returned = new Set<string>()
        this.returned.set(ch, returned)
        ch.on('return', (msg: Message) => {
          const id = msg.properties.messageId
          if (typeof id === 'string') returned.add(id)
        })
        if (opts.setup) await opts.setup(ch)
      }
    }, log)
  }

  start (): Promise<ConfirmChannel> {
    return this.channel.start()
  }

  /** Resolves when the broker confirms; rejects with a coded error otherwise. */
  async publish (exchange: string, routingKey: string, content: Buffer, props: PublishProperties, timeout = this.opts.publishTimeout): Promise<void> {
    if (this.closed) throw new FST_AMQP_CLOSED('publish() after close')
    const known = this.exchanges.get(exchange)
    if (known !== true) await (known ?? this.checkExchange(exchange, timeout))
    const ch = this.channel.current ?? await this.channel.waitForChannel(timeout)
    props.appId ??= this.opts.appId
    this.inFlight.enter()
    return new Promise<void>((resolve, reject) => {
      const done = (err: Error | null) => {
        this.inFlight.leave()
        if (props.mandatory && this.returned.get(ch)?.delete(props.messageId)) {
          reject(new FST_AMQP_UNROUTABLE(exchange, routingKey))
        } else if (err) {
          reject(this.publishError(ch, err, exchange, routingKey))
        } else {
          resolve()
        }
      }
      try {
        ch.publish(exchange, routingKey, content, props, done)
      } catch (err) {
        // The channel closed under us before anything was sent: safe to send on the next one.
        this.inFlight.leave()
        if (this.channel.current !== ch && !this.closed) {
          this.publish(exchange, routingKey, content, props, timeout).then(resolve, reject)
        } else {
          reject(new FST_AMQP_PUBLISH_UNCONFIRMED(exchange, routingKey, { cause: err }))
        }
      }
    })
  }

  /** Names why a publish failed: a nack, a missing exchange, or a channel that closed first. */
  private publishError (ch: ConfirmChannel, err: Error, exchange: string, routingKey: string): Error {
    if (err.message === 'message nacked') return new FST_AMQP_PUBLISH_NACKED(exchange, routingKey, { cause: err })
    const closedWith = closeError(ch) as (Error & { code?: number }) | undefined
    if (closedWith?.code === 404 && exchange !== '' && closedWith.message.includes(`'${exchange}'`)) {
      // The exchange was deleted after it was checked: check it again next time.
      this.exchanges.delete(exchange)
      return new FST_AMQP_EXCHANGE_NOT_FOUND(exchange, { cause: closedWith })
    }
    return new FST_AMQP_PUBLISH_UNCONFIRMED(exchange, routingKey, { cause: closedWith ?? err })
  }

  /**
   * Publishing to a missing exchange would close the shared channel and fail
   * every other publish in flight, so an exchange is checked (passively, on a
   * throwaway channel) the first time it is used.
   */
  private checkExchange (exchange: string, timeout: number): Promise<void> {
    const check = (async () => {
      const model = this.conn.current ?? (await this.channel.waitForChannel(timeout), this.conn.current)
      if (!model) throw new FST_AMQP_NOT_CONNECTED(timeout)
      const probe = await model.createChannel()
      probe.on('error', () => {}) // a 404 closes the probe; it is reported below
      try {
        await probe.checkExchange(exchange)
      } catch (err) {
        if ((err as any).code === 404) throw new FST_AMQP_EXCHANGE_NOT_FOUND(exchange, { cause: err })
        throw err
      } finally {
        probe.close().catch(() => {})
      }
    })()
    this.exchanges.set(exchange, check)
    check.then(() => this.exchanges.set(exchange, true), () => this.exchanges.delete(exchange))
    return check
  }

  /** Waits (at most `timeout` ms) for outstanding confirms, then closes the channel. Safe to call twice. */
  async close (timeout: number): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.inFlight.idle(timeout)
    await this.channel.close()
  }

  /** A fresh message id. */
  static messageId (): string {
    return randomUUID()
  }
}
