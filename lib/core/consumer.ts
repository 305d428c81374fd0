import type { Channel, ConsumeMessage } from 'amqplib'
import { Backoff } from './backoff'
import { isOpen, ManagedChannel } from './channel'
import type { NormalizedConsume } from './call-options'
import { decode, encode } from './codec'
import type { Connection } from './connection'
import { FST_AMQP_CLOSED, FST_AMQP_HANDLER_FAILED } from './errors'
import { InFlight } from './in-flight'
import type { Log } from './log'
import { Publisher } from './publisher'
import { sendErrorReply, sendReply } from './reply'
import { attemptOf, failedCopy, isRetryable, nextStep, origin, type FailureReason } from './retry'
import { bounded } from './timeout'
import { declareConsumer } from './topology'
import type { Consumer, MessageHandler, WarrenMessage } from './types'

/** @internal What a consumer needs from the core. */
export interface ConsumerContext {
  conn: Connection
  publisher: Publisher
  /** Where replies to requests go out (no confirms). */
  replies: Publisher
  log: Log
  reopenDelay: number
  reopenDelayMax: number
  closeTimeout: number
  /** The largest body a forward or a reply may have, in bytes. */
  maxMessageSize: number
  /** Called once the consumer has stopped, so the core forgets it. */
  onStopped: (consumer: WarrenConsumer) => void
}

const noop = () => {}

/** How long cancelling waits for the broker's answer, in milliseconds. */
const CANCEL_WAIT = 5000

/** Headers the broker or this plugin set about one hop (dead-lettering, retries, error replies), not to be carried to the next. */
const HOP_HEADERS = /^x-(death|first-death-|last-death-|warren-)/

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
  private waitQueues: string[] = []
  /** Pauses between attempts to move a failed message, cut short when the consumer stops. */
  private readonly pauses = new Set<() => void>()
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
      reopenDelayMax: ctx.reopenDelayMax,
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

  /** Declares the topology and starts consuming (once its connection is up). Single flight; rejects with a coded error. */
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
    const declared = await declareConsumer(ch, this.spec.topology)
    this.queue = declared.queue
    this.waitQueues = declared.waitQueues
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
    this.handle(ch, raw).then(this.handled, this.settlementFailed)
  }

  private readonly handled = (): void => {
    this.inFlight.leave()
  }

  private readonly settlementFailed = (err: Error): void => {
    this.inFlight.leave()
    this.log.error({ err, queue: this.queue }, 'amqp message settlement failed')
  }

  private async handle (ch: Channel, raw: ConsumeMessage): Promise<void> {
    const props = raw.properties
    const attempt = attemptOf(raw, this.queue)
    let body: unknown
    try {
      body = decode(raw.content, props.contentType, props.contentEncoding)
    } catch (err) {
      if (props.replyTo) {
        this.log.error({ err, queue: this.queue, messageId: props.messageId }, 'amqp request could not be decoded; the error is the reply')
        await this.answer(ch, raw, sendErrorReply(this.ctx.replies, props.replyTo, props.correlationId, err as Error))
      } else {
        await this.fail(ch, raw, err, 'undecodable', attempt)
      }
      return
    }
    const where = origin(raw, this.queue)
    const msg: WarrenMessage = {
      body,
      content: raw.content,
      routingKey: where.routingKey,
      exchange: where.exchange,
      headers: props.headers ?? {},
      properties: props,
      redelivered: raw.fields.redelivered,
      attempt
    }
    let result: unknown
    try {
      result = await this.handler.call(this.thisArg as any, msg)
    } catch (err) {
      if (props.replyTo) {
        this.log.warn({ err: new FST_AMQP_HANDLER_FAILED(this.queue, { cause: err }), queue: this.queue }, 'amqp request handler failed; the error is the reply')
        await this.answer(ch, raw, sendErrorReply(this.ctx.replies, props.replyTo, props.correlationId, err as Error))
      } else {
        await this.fail(ch, raw, err, isRetryable(err) ? 'handler-failed' : 'not-retryable', attempt)
      }
      return
    }
    if (props.replyTo) {
      await this.answer(ch, raw, sendReply(this.ctx.replies, props.replyTo, props.correlationId, result, this.ctx.maxMessageSize,
        (err) => this.log.error({ err, queue: this.queue }, 'amqp reply could not be encoded; the requester gets the error')))
    } else if (this.spec.next && result !== undefined) {
      await this.forward(ch, raw, result, attempt)
    } else {
      this.settle(ch, raw, 'ack')
    }
  }

  /**
   * Pipeline stage: publishes the handler's result to the next stage and acks
   * the message only once the broker has confirmed it, so a crash in between
   * repeats the stage rather than losing the message. A result that cannot be
   * encoded goes to the dead-letter queue; a publish that fails is retried like
   * a failed handler.
   */
  private async forward (ch: Channel, raw: ConsumeMessage, result: unknown, attempt: number): Promise<void> {
    const next = this.spec.next!
    const props = raw.properties
    let encoded
    try {
      encoded = encode(result, this.ctx.maxMessageSize)
    } catch (err) {
      return this.fail(ch, raw, err, 'unencodable-result', attempt)
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
      return this.fail(ch, raw, err, 'forward-failed', attempt)
    }
    this.settle(ch, raw, 'ack')
  }

  /**
   * A message that failed: a copy goes to a wait queue (tried again after a
   * delay) or to the dead-letter queue, confirmed, and only then is the
   * original acked, so a crash in between duplicates it rather than losing it.
   * Without a dead-letter queue it is rejected.
   */
  private async fail (ch: Channel, raw: ConsumeMessage, err: unknown, reason: FailureReason, attempt: number): Promise<void> {
    const step = nextStep(reason, attempt, this.spec.retry, this.waitQueues, this.spec.topology.deadLetter)
    const logged = reason === 'undecodable' || reason === 'unencodable-result' ? err : new FST_AMQP_HANDLER_FAILED(this.queue, { cause: err })
    const details = { err: logged, queue: this.queue, messageId: raw.properties.messageId, attempt, reason }
    // Its channel is gone: the broker delivers the original again, so a copy would be a duplicate.
    if (!isOpen(ch)) return
    if (step.to === 'reject') {
      this.settle(ch, raw, 'reject')
      this.log.error(details, 'amqp message rejected: no try left and no dead-letter queue (dropped, unless the queue has its own x-dead-letter-exchange)')
      return
    }
    const copy = failedCopy(raw, this.queue, step, reason, attempt, err)
    const backoff = new Backoff(this.ctx.reopenDelay, this.ctx.reopenDelayMax)
    for (;;) {
      try {
        await this.ctx.publisher.publish('', step.queue, raw.content, copy)
        break
      } catch (moveErr) {
        if (!isOpen(ch)) return
        if ((moveErr as { code?: string }).code === 'FST_AMQP_UNROUTABLE') {
          // Its wait or dead-letter queue was deleted: a new channel declares it
          // again, and the broker redelivers what this one held.
          this.log.error({ ...details, err: moveErr, to: step.queue }, 'amqp wait or dead-letter queue is missing; restarting the consumer to declare it again')
          ch.close().catch(noop)
          return
        }
        if (this.stopping) {
          this.log.warn({ ...details, err: moveErr, to: step.queue }, 'amqp failed message could not be moved before the consumer stopped; it goes back to the queue')
          return
        }
        // The message stays unacked and the copy is tried again, later and
        // later: a queue that refuses copies (a length limit, an alarm) costs
        // neither a tight loop nor another run of the handler.
        const retryIn = backoff.next()
        this.log.error({ ...details, err: moveErr, to: step.queue, retryIn }, 'amqp failed message could not be moved; trying again')
        await this.pause(retryIn)
      }
    }
    this.settle(ch, raw, 'ack')
    if (step.to === 'wait') this.log.warn({ ...details, retryIn: step.delay }, 'amqp handler failed; the message will be tried again')
    else this.log.error({ ...details, deadLetter: step.queue }, 'amqp message moved to the dead-letter queue')
  }

  /** Waits `ms`, or less if the consumer starts stopping meanwhile. */
  private pause (ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.pauses.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.pauses.add(done)
    })
  }

  /**
   * Sends a reply, then acks the request. If the reply cannot be sent the request
   * is requeued once (the requester may still be waiting), then rejected.
   */
  private async answer (ch: Channel, raw: ConsumeMessage, sending: Promise<unknown>): Promise<void> {
    try {
      await sending
    } catch (err) {
      const how = raw.fields.redelivered ? 'reject' : 'requeue'
      this.settle(ch, raw, how)
      this.log.error({ err, queue: this.queue, requeued: how === 'requeue' }, 'amqp reply could not be sent')
      return
    }
    this.settle(ch, raw, 'ack')
  }

  /**
   * Acks, requeues or rejects on the delivering channel, only while it is open:
   * a stale tag is never sent on a new channel, and the broker redelivers what
   * a closed channel held.
   */
  private settle (ch: Channel, raw: ConsumeMessage, how: 'ack' | 'requeue' | 'reject'): void {
    if (!isOpen(ch)) {
      this.log.debug({ queue: this.queue }, 'amqp delivery from a closed channel not settled; the broker redelivers it')
      return
    }
    try {
      if (how === 'ack') ch.ack(raw)
      else ch.nack(raw, false, how === 'requeue')
    } catch (err) {
      // The channel began closing since the check: the broker redelivers.
      this.log.debug({ err, queue: this.queue }, 'amqp delivery not settled: its channel is closing')
    }
  }

  /** Stops new deliveries, waits for handlers in flight (up to closeTimeout), closes the channel. Safe to call twice. */
  cancel (): Promise<void> {
    this.stopped ??= this.stop()
    return this.stopped
  }

  private async stop (): Promise<void> {
    this.stopping = true
    for (const wake of this.pauses) wake()
    this.settleReady(new FST_AMQP_CLOSED('the consumer was cancelled before it started'))
    // A start still waiting for its connection would never end: closing the channel ends it.
    if (this.channel.current === undefined) await this.channel.close()
    await this.starting?.catch(noop)
    const ch = this.channel.current
    if (ch && this.consumerTag) await bounded(ch.cancel(this.consumerTag), CANCEL_WAIT)
    if (!await this.inFlight.idle(this.ctx.closeTimeout)) {
      this.log.warn({ queue: this.queue, inFlight: this.inFlight.size }, 'amqp handlers still running at closeTimeout; their messages return to the queue')
    }
    await this.channel.close()
    this.ctx.onStopped(this)
  }
}
