import type { Channel, ConsumeMessage } from 'amqplib'
import { ManagedChannel } from './channel'
import type { NormalizedConsume } from './call-options'
import { decode, encode, JSON_TYPE } from './codec'
import type { Connection } from './connection'
import { FST_AMQP_CLOSED, FST_AMQP_HANDLER_FAILED } from './errors'
import { InFlight } from './in-flight'
import type { Log } from './log'
import { Publisher } from './publisher'
import { declareConsumer } from './topology'
import type { Consumer, MessageHandler, WarrenMessage } from './types'

/** @internal Header that marks a reply as the remote handler's error. */
export const ERROR_HEADER = 'x-warren-error'

/** @internal What a consumer needs from the core. */
export interface ConsumerContext {
  conn: Connection
  publisher: Publisher
  log: Log
  reopenDelay: number
  closeTimeout: number
  /** Called once the consumer has stopped, so the core forgets it. */
  onStopped: (consumer: WarrenConsumer) => void
}

const noop = () => {}

/** Headers the broker or this plugin set about one hop, not to be carried to the next. */
const HOP_HEADERS = /^x-(death|first-death-|last-death-|warren-error)/

function forwardHeaders (headers: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!headers) return undefined
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_HEADERS.test(name)))
}

/**
 * @internal
 * One consumer on its own channel (so its prefetch, and any channel error, are its own).
 * Handlers run concurrently up to prefetch; a resolved handler acks, a thrown one
 * does not count as success. Acks go only to the channel that delivered.
 */
export class WarrenConsumer implements Consumer {
  queue: string
  private readonly channel: ManagedChannel<Channel>
  private readonly log: Log
  private consumerTag: string | undefined
  private readonly inFlight = new InFlight()
  private stopping = false
  private starting: Promise<void> | undefined
  private stopped: Promise<void> | undefined
  private readonly readyPromise: Promise<void>
  private settleReady!: (err?: Error) => void

  constructor (
    private readonly ctx: ConsumerContext,
    private readonly spec: NormalizedConsume,
    private readonly handler: MessageHandler,
    private readonly thisArg: unknown
  ) {
    this.queue = spec.topology.queue
    this.log = ctx.log
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.settleReady = (err) => (err ? reject(err) : resolve())
    })
    this.readyPromise.catch(noop) // reported through ready() and the log, never as an unhandled rejection
    this.channel = new ManagedChannel<Channel>(ctx.conn, {
      name: `consumer ${spec.topology.queue || spec.topology.routingKeys.join(',')}`,
      confirm: false,
      reopenDelay: ctx.reopenDelay,
      setup: (ch) => this.setup(ch)
    }, ctx.log)
  }

  ready (): Promise<void> {
    return this.readyPromise
  }

  /** True while the consumer has a live, set-up channel and has not been cancelled. */
  get running (): boolean {
    return !this.stopping && this.channel.current !== undefined
  }

  /** Declares the topology and starts consuming. Single flight; rejects with a coded error. */
  start (): Promise<void> {
    if (this.stopping) return this.readyPromise
    this.starting ??= this.channel.start().then(
      () => {
        this.log.info({ queue: this.queue, routingKeys: this.spec.topology.routingKeys }, 'amqp consumer started')
        this.settleReady()
      },
      (err: Error) => {
        this.settleReady(err)
        throw err
      }
    )
    return this.starting
  }

  private async setup (ch: Channel): Promise<void> {
    this.queue = await declareConsumer(ch, this.spec.topology)
    await ch.prefetch(this.spec.prefetch)
    const { consumerTag } = await ch.consume(this.queue, (raw) => this.onDelivery(ch, raw))
    this.consumerTag = consumerTag
  }

  private onDelivery (ch: Channel, raw: ConsumeMessage | null): void {
    if (raw === null) {
      // The broker cancelled us (queue deleted, node down): reopen, which re-declares.
      this.log.warn({ queue: this.queue }, 'amqp consumer cancelled by the broker; restarting it')
      ch.close().catch(noop)
      return
    }
    // After cancel() has begun, leave the message unacked: closing the channel returns it to the queue.
    if (this.stopping) return
    this.inFlight.enter()
    this.handle(ch, raw).catch((err: Error) => {
      this.log.error({ err, queue: this.queue }, 'amqp message settlement failed')
    }).finally(() => {
      this.inFlight.leave()
    })
  }

  private async handle (ch: Channel, raw: ConsumeMessage): Promise<void> {
    const props = raw.properties
    let body: unknown
    try {
      body = decode(raw.content, props.contentType, props.contentEncoding)
    } catch (err) {
      this.log.error({ err, queue: this.queue, messageId: props.messageId }, 'amqp message could not be decoded; rejected without calling the handler')
      if (props.replyTo) await this.answer(ch, raw, () => this.replyError(props.replyTo, props.correlationId, err as Error))
      else this.settle(ch, raw, 'drop')
      return
    }
    const msg: WarrenMessage = {
      body,
      content: raw.content,
      routingKey: raw.fields.routingKey,
      exchange: raw.fields.exchange,
      headers: props.headers ?? {},
      properties: props,
      redelivered: raw.fields.redelivered
    }
    let result: unknown
    try {
      result = await this.handler.call(this.thisArg as any, msg)
    } catch (err) {
      const failure = new FST_AMQP_HANDLER_FAILED(this.queue, { cause: err })
      if (props.replyTo) {
        this.log.warn({ err: failure, queue: this.queue }, 'amqp request handler failed; the error is the reply')
        await this.answer(ch, raw, () => this.replyError(props.replyTo, props.correlationId, err as Error))
      } else {
        const requeued = this.settle(ch, raw, 'retry')
        const details = { err: failure, queue: this.queue, messageId: props.messageId, requeued }
        if (requeued) this.log.warn(details, 'amqp handler failed; the message is requeued once')
        else this.log.error(details, 'amqp handler failed again; the message is rejected')
      }
      return
    }
    if (props.replyTo) await this.answer(ch, raw, () => this.reply(props.replyTo, props.correlationId, result))
    else if (this.spec.next && result !== undefined) await this.forward(ch, raw, result)
    else this.settle(ch, raw, 'ack')
  }

  /**
   * Pipeline stage: publishes the handler's result to the next stage and acks
   * the message only once the broker has confirmed it, so a crash in between
   * repeats the stage rather than losing the message. A result that cannot be
   * encoded is rejected at once; a publish that fails is retried like a failed handler.
   */
  private async forward (ch: Channel, raw: ConsumeMessage, result: unknown): Promise<void> {
    const next = this.spec.next!
    const props = raw.properties
    let encoded
    try {
      encoded = encode(result)
    } catch (err) {
      this.settle(ch, raw, 'drop')
      this.log.error({ err, queue: this.queue, messageId: props.messageId }, 'amqp handler result could not be encoded for the next stage; the message is rejected')
      return
    }
    try {
      await this.ctx.publisher.publish(next.exchange, next.routingKey, encoded.content, {
        messageId: Publisher.messageId(),
        // One id follows the message through every stage.
        correlationId: props.correlationId ?? props.messageId,
        contentType: encoded.contentType,
        headers: forwardHeaders(props.headers),
        persistent: true,
        mandatory: true,
        timestamp: Math.floor(Date.now() / 1000)
      })
    } catch (err) {
      const requeued = this.settle(ch, raw, 'retry')
      this.log.error({ err, queue: this.queue, next, messageId: props.messageId, requeued }, 'amqp result could not be passed to the next stage')
      return
    }
    this.settle(ch, raw, 'ack')
  }

  /**
   * Sends a reply, then acks the request. If the reply cannot be sent the request
   * is requeued once (the requester may still be waiting), then dropped.
   */
  private async answer (ch: Channel, raw: ConsumeMessage, send: () => Promise<void>): Promise<void> {
    try {
      await send()
    } catch (err) {
      const requeued = this.settle(ch, raw, 'retry')
      this.log.error({ err, queue: this.queue, requeued }, 'amqp reply could not be sent')
      return
    }
    this.settle(ch, raw, 'ack')
  }

  private async reply (replyTo: string, correlationId: string | undefined, result: unknown): Promise<void> {
    let encoded
    try {
      encoded = encode(result === undefined ? null : result)
    } catch (err) {
      this.log.error({ err, queue: this.queue }, 'amqp reply could not be encoded; the requester gets the error')
      return this.replyError(replyTo, correlationId, err as Error)
    }
    await this.ctx.publisher.publish('', replyTo, encoded.content, {
      messageId: Publisher.messageId(),
      correlationId,
      contentType: encoded.contentType,
      persistent: false,
      mandatory: false,
      timestamp: Math.floor(Date.now() / 1000)
    })
  }

  private async replyError (replyTo: string, correlationId: string | undefined, err: Error): Promise<void> {
    const code: unknown = (err as any)?.code
    // The code travels as a header and in JSON: a string, whatever the handler threw.
    const error = { message: err?.message ?? String(err), code: code === undefined || code === null ? undefined : String(code) }
    await this.ctx.publisher.publish('', replyTo, Buffer.from(JSON.stringify({ error })), {
      messageId: Publisher.messageId(),
      correlationId,
      contentType: JSON_TYPE,
      headers: { [ERROR_HEADER]: error.code ?? 'Error' },
      persistent: false,
      mandatory: false,
      timestamp: Math.floor(Date.now() / 1000)
    })
  }

  /**
   * Acks or rejects on the delivering channel, only if it is still open: a stale
   * tag is never sent on a new channel. 'retry' requeues a first delivery and
   * drops a redelivery (dead-lettered if the queue has a dead-letter exchange),
   * so a failing message is tried twice and never loops. Returns whether it was requeued.
   */
  private settle (ch: Channel, raw: ConsumeMessage, how: 'ack' | 'retry' | 'drop'): boolean {
    const requeue = how === 'retry' && !raw.fields.redelivered
    if (this.channel.current !== ch) {
      this.log.debug({ queue: this.queue }, 'amqp delivery from a closed channel not settled; the broker redelivers it')
    } else if (how === 'ack') {
      ch.ack(raw)
    } else {
      ch.nack(raw, false, requeue)
    }
    return requeue
  }

  /** Stops new deliveries, waits for handlers in flight (up to closeTimeout), closes the channel. Safe to call twice. */
  cancel (): Promise<void> {
    this.stopped ??= this.stop()
    return this.stopped
  }

  private async stop (): Promise<void> {
    this.stopping = true
    this.settleReady(new FST_AMQP_CLOSED('the consumer was cancelled before it started'))
    await this.starting?.catch(noop)
    const ch = this.channel.current
    if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(noop)
    if (!await this.inFlight.idle(this.ctx.closeTimeout)) {
      this.log.warn({ queue: this.queue, inFlight: this.inFlight.size }, 'amqp handlers still running at closeTimeout; their messages return to the queue')
    }
    await this.channel.close()
    this.ctx.onStopped(this)
  }
}
