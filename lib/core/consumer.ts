import type { Channel, ConsumeMessage } from 'amqplib'
import { Backoff } from './backoff'
import { isOpen, ManagedChannel } from './channel'
import type { NormalizedConsume } from './call-options'
import type { Connection } from './connection'
import type { SendRecord, Telemetry } from '../telemetry/telemetry'
import { describeError, HEADERS, isRetryable, safeError, type ConsumerView, type Delivery, type Envelope, type Failure, type Outgoing } from './envelope'
import { FST_AMQP_CLOSED, FST_AMQP_HANDLER_FAILED } from './errors'
import type { ConsumerDescription } from '../contracts/asyncapi'
import { invalidMessage, type Check } from '../contracts/validate'
import { FailureQueues } from './failure-queues'
import { InFlight } from './in-flight'
import type { Log } from './log'
import type { Publisher } from './publisher'
import { nextStep, type FailureReason } from './retry'
import { offsetArgument, StreamCursor } from './stream-offset'
import { bounded } from './timeout'
import { declareConsumer } from './topology'
import type { Consumer, ConsumerHealth, MessageHandler } from './types'

/** @internal What a consumer needs from the core. */
export interface ConsumerContext {
  conn: Connection
  envelope: Envelope
  /** Traces, metrics and diagnostics channels around each delivery. */
  telemetry: Telemetry
  publisher: Publisher
  /** Where replies to requests go out (no confirms). */
  replies: Publisher
  log: Log
  reopenDelay: number
  reopenDelayMax: number
  closeTimeout: number
  /** Called once the consumer has stopped, so the core forgets it. */
  onStopped: (consumer: WarrenConsumer) => void
}

const noop = () => {}

/** How long cancelling waits for the broker's answer, in milliseconds. */
const CANCEL_WAIT = 5000

/** Deliveries settled (acked, requeued or rejected): the safety net leaves them alone. */
const settled = new WeakSet<ConsumeMessage>()

/** Errors a copy will meet again on every try: the message is rejected instead of tried for ever. */
const PERMANENT = new Set(['FST_AMQP_ENCODE', 'FST_AMQP_INVALID_HEADER', 'FST_AMQP_HEADERS_TOO_LARGE', 'FST_AMQP_MESSAGE_TOO_LARGE'])

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
  private readonly failures: FailureQueues
  /** A stream consumer's position; undefined for other queues. */
  private readonly cursor: StreamCursor | undefined
  private readonly view: ConsumerView
  private consumerTag: string | undefined
  /** Why the last setup failed, until one succeeds. */
  private lastError: Error | undefined
  /** Failed messages whose copy cannot be moved now, and the last error moving one. */
  private stuck = 0
  private moveError: Error | undefined
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
    private readonly thisArg: unknown,
    /** The schema checks of its messages (a definition's, or a per-call `schema`), and of its results for the next stage. */
    private readonly checks: { body?: Check, headers?: Check, next?: Check } = {}
  ) {
    const t = spec.topology
    this.queue = t.queue
    this.log = ctx.log
    this.failures = new FailureQueues(ctx.conn, t, ctx.log)
    this.cursor = spec.offset === undefined ? undefined : new StreamCursor(spec.offset)
    const self = this
    this.view = {
      get queue () { return self.queue },
      exchange: t.exchange,
      exchangeType: t.exchangeType,
      routingKeys: t.routingKeys,
      isWaitQueue: this.failures.isWaitQueue,
      log: ctx.log
    }
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.settleReady = (err) => (err ? reject(err) : resolve())
    })
    this.readyPromise.catch(noop) // reported through ready() and the log, never as an unhandled rejection
    this.channel = new ManagedChannel<Channel>(ctx.conn, {
      name: `consumer ${t.queue || t.routingKeys.join(',')}`,
      confirm: false,
      reopenDelay: ctx.reopenDelay,
      reopenDelayMax: ctx.reopenDelayMax,
      setup: (ch) => this.setup(ch)
    }, ctx.log)
    this.channel.on('failed', (err: Error) => { if (!this.stopping) this.lastError = err })
    this.channel.on('open', () => { this.lastError = undefined })
  }

  ready (): Promise<void> {
    return this.readyPromise
  }

  /** What the AsyncAPI document says of it. */
  get description (): ConsumerDescription {
    const t = this.spec.topology
    const c = this.spec.contract
    return {
      queue: this.queue,
      exclusive: t.exclusive,
      queueType: t.queueType,
      exchange: t.exchange,
      exchangeType: t.exchangeType,
      routingKeys: t.routingKeys,
      queueArguments: t.queueArgs,
      prefetch: this.spec.prefetch,
      attempts: this.spec.retry.attempts,
      deadLetter: t.deadLetter,
      next: this.spec.next,
      definition: c?.definition,
      body: c?.body,
      headers: c?.headers
    }
  }

  /** True while the consumer has a live, set-up channel and has not been cancelled. */
  get running (): boolean {
    return !this.stopping && this.channel.current !== undefined
  }

  /**
   * Its queue, whether it receives, and if not, why. A consumer that runs
   * but cannot move failed messages to their wait or dead-letter queue says
   * so too: those messages hold its prefetch until they can be moved.
   */
  health (): ConsumerHealth {
    return this.withPosition(this.state())
  }

  private state (): ConsumerHealth {
    if (this.running) {
      if (this.stuck === 0 || this.moveError === undefined) return { queue: this.queue, running: true }
      return { queue: this.queue, running: true, reason: `${this.stuck} failed message(s) cannot be moved to their wait or dead-letter queue; trying again`, error: describeError(this.moveError) }
    }
    const reason = this.stopping
      ? 'cancelled'
      : this.lastError !== undefined
        ? 'its setup failed; trying again'
        : this.ctx.conn.current === undefined ? 'the connection is down' : 'starting'
    const health: ConsumerHealth = { queue: this.queue, running: false, reason }
    if (this.lastError !== undefined) health.error = describeError(this.lastError)
    return health
  }

  /** A stream consumer's health says where it is, and how many messages it passed over. */
  private withPosition (health: ConsumerHealth): ConsumerHealth {
    const cursor = this.cursor
    if (cursor === undefined) return health
    if (cursor.last !== undefined) health.offset = cursor.last
    health.failed = cursor.failed
    return health
  }

  /**
   * Declares the topology and starts consuming (once its connection is up).
   * Single flight; rejects with a coded error if the first setup fails, and
   * goes on trying with backoff.
   */
  start (): Promise<void> {
    if (this.stopping) return this.readyPromise
    this.starting ??= this.channel.start().then(
      () => {
        this.log.info({ queue: this.queue, routingKeys: this.spec.topology.routingKeys }, 'amqp consumer started')
        this.settleReady()
      },
      (err: Error) => {
        this.lastError = err
        this.settleReady(err)
        throw err
      }
    )
    return this.starting
  }

  private async setup (ch: Channel): Promise<void> {
    const t = this.spec.topology
    this.queue = await declareConsumer(ch, t)
    this.failures.reset(this.queue)
    // The queue dead-letters past its delivery limit to the dead-letter queue by itself: it must exist first.
    if (t.deadLetterAtStart) await this.failures.deadLetterQueue()
    // Per consumer, never global: RabbitMQ 4.3 refuses global QoS, and a stream needs a prefetch.
    await ch.prefetch(this.spec.prefetch)
    const args: Record<string, unknown> = {}
    if (this.spec.priority !== undefined) args['x-priority'] = this.spec.priority
    if (this.cursor !== undefined) {
      const from = this.cursor.start()
      args['x-stream-offset'] = offsetArgument(from)
      this.log.debug({ queue: this.queue, offset: from instanceof Date ? from.toISOString() : from }, 'amqp stream consumer subscribing')
    }
    const { consumerTag } = await ch.consume(this.queue, (raw) => this.onDelivery(ch, raw), { arguments: args })
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
    if (this.cursor === undefined) {
      this.handle(ch, raw).then(this.handled, (err: unknown) => this.settlementFailed(ch, raw, err))
      return
    }
    const over = this.cursor.delivered(raw.properties.headers)
    this.handle(ch, raw).then(
      () => { over(); this.handled() },
      (err: unknown) => { over(); this.settlementFailed(ch, raw, err) }
    )
  }

  private readonly handled = (): void => {
    this.inFlight.leave()
  }

  /**
   * The safety net: settling threw, which nothing a producer or a handler
   * sends should make happen. The message is not left unacked for good: it
   * is requeued once, then rejected.
   */
  private settlementFailed (ch: Channel, raw: ConsumeMessage, err: unknown): void {
    this.inFlight.leave()
    this.log.error({ err: safeError(err), queue: this.queue }, 'amqp message settlement failed')
    if (!settled.has(raw)) this.settle(ch, raw, raw.fields.redelivered ? 'reject' : 'requeue')
  }

  private handle (ch: Channel, raw: ConsumeMessage): Promise<void> {
    const delivery = this.ctx.envelope.open(raw, this.view)
    const telemetry = this.ctx.telemetry
    if (!telemetry.on) return this.handleDelivery(ch, delivery)
    const info = {
      queue: this.queue,
      // Where it was first published: a retry's span has the same destination as the first try's.
      exchange: delivery.msg.exchange,
      routingKey: delivery.msg.routingKey,
      messageId: delivery.messageId,
      correlationId: delivery.correlationId,
      attempt: delivery.attempt,
      bodySize: raw.content.length,
      headers: delivery.msg.headers,
      message: delivery.msg
    }
    return telemetry.process(info, (trace) => {
      delivery.trace = trace
      return this.handleDelivery(ch, delivery)
    })
  }

  private async handleDelivery (ch: Channel, delivery: Delivery): Promise<void> {
    const { replyTo, raw } = delivery
    const log = delivery.msg.log
    if (delivery.decodeError !== undefined) {
      delivery.trace.failed(delivery.decodeError)
      if (replyTo !== undefined) {
        log.error({ err: delivery.decodeError }, 'amqp request could not be decoded; the error is the reply')
        return this.answer(ch, delivery, () => this.ctx.envelope.errorReply(replyTo, delivery.correlationId, delivery.decodeError))
      }
      return this.fail(ch, delivery, delivery.decodeError, 'undecodable')
    }
    if (this.checks.body !== undefined || this.checks.headers !== undefined) {
      const invalid = await this.validate(delivery)
      if (invalid !== undefined) {
        delivery.trace.failed(invalid)
        if (replyTo !== undefined) {
          log.warn({ err: invalid }, 'amqp request failed its schema; the error is the reply')
          return this.answer(ch, delivery, () => this.ctx.envelope.errorReply(replyTo, delivery.correlationId, invalid))
        }
        return this.fail(ch, delivery, invalid, 'invalid')
      }
    }
    let result: unknown
    try {
      result = await this.handler.call(this.thisArg as any, delivery.msg)
    } catch (err) {
      delivery.trace.failed(err)
      if (replyTo !== undefined) {
        log.warn({ err: new FST_AMQP_HANDLER_FAILED(this.queue, { cause: safeError(err) }) }, 'amqp request handler failed; the error is the reply')
        return this.answer(ch, delivery, () => this.ctx.envelope.errorReply(replyTo, delivery.correlationId, err))
      }
      return this.fail(ch, delivery, err, isRetryable(err) ? 'handler-failed' : 'not-retryable')
    }
    if (replyTo !== undefined) {
      return this.answer(ch, delivery, () => this.ctx.envelope.reply(replyTo, delivery.correlationId, result))
    }
    if (this.spec.next && result !== undefined) return this.forward(ch, delivery, result)
    delivery.trace.outcome('ack')
    this.settle(ch, raw, 'ack')
  }

  /**
   * Checks the body and headers against the consumer's schemas, and puts the
   * validated values (a Standard Schema's output, JSON Schema defaults filled
   * in) in `msg`; returns FST_AMQP_INVALID_MESSAGE if either fails.
   */
  private async validate (delivery: Delivery): Promise<Error | undefined> {
    const { body, headers } = this.checks
    const key = delivery.msg.routingKey
    if (body !== undefined) {
      const checked = await body(delivery.msg.body)
      if (!checked.ok) return invalidMessage('body', key, checked.issues)
      delivery.msg.body = checked.value
    }
    if (headers !== undefined) {
      const checked = await headers(delivery.msg.headers)
      if (!checked.ok) return invalidMessage('headers', key, checked.issues)
      delivery.msg.headers = checked.value as Record<string, any>
    }
    return undefined
  }

  /**
   * Pipeline stage: publishes the handler's result to the next stage and acks
   * the message only once the broker has confirmed it, so a crash in between
   * repeats the stage rather than losing the message. A result that cannot be
   * encoded goes to the dead-letter queue; a publish that fails is retried like
   * a failed handler.
   */
  private async forward (ch: Channel, delivery: Delivery, result: unknown): Promise<void> {
    const next = this.checks.next
    if (next !== undefined) {
      // The next stage's definition: a result it would refuse is this stage's bug, never retried.
      const checked = await next(result)
      if (!checked.ok) return this.fail(ch, delivery, invalidMessage('body', this.spec.next!.routingKey, checked.issues), 'invalid-result')
    }
    const to = this.spec.next!
    let unencodable = false
    const send = (trace?: Record<string, unknown>, record?: SendRecord): Promise<unknown> => {
      let message: Outgoing
      try {
        message = this.ctx.envelope.forward(delivery, to, result, trace)
      } catch (err) {
        unencodable = true
        return Promise.reject(err)
      }
      record?.sent({ messageId: message.props.messageId, correlationId: message.props.correlationId, bodySize: message.content.length })
      return this.ctx.publisher.publish(message)
    }
    try {
      // Inside the process span: the forward is its child, and carries its context on.
      await (this.ctx.telemetry.on ? this.ctx.telemetry.publish('forward', to.exchange, to.routingKey, send) : send())
    } catch (err) {
      // A result the broker refuses for its size would be refused on every try.
      const tooLarge = (err as { code?: unknown }).code === 'FST_AMQP_MESSAGE_TOO_LARGE'
      return this.fail(ch, delivery, err, unencodable || tooLarge ? 'unencodable-result' : 'forward-failed')
    }
    delivery.trace.outcome('forward')
    this.settle(ch, delivery.raw, 'ack')
  }

  /**
   * A message that failed: a copy goes to a wait queue (tried again after a
   * delay) or to the dead-letter queue, confirmed, and only then is the
   * original acked, so a crash in between duplicates it rather than losing it.
   * Without a dead-letter queue it is rejected. The consumer's channel is
   * never closed for a copy: a queue found missing is declared again.
   */
  private async fail (ch: Channel, delivery: Delivery, err: unknown, reason: FailureReason): Promise<void> {
    const { raw, attempt } = delivery
    const t = this.spec.topology
    const step = nextStep(reason, attempt, this.spec.retry, t.retryLevels, t.deadLetter !== undefined)
    const cause = safeError(err)
    const logged = reason === 'undecodable' || reason === 'unencodable-result' || reason === 'invalid' || reason === 'invalid-result' ? cause : new FST_AMQP_HANDLER_FAILED(this.queue, { cause })
    // msg.log carries the queue, message id and attempt (and the trace id).
    const details = { err: logged, reason }
    const log = delivery.msg.log
    const { trace } = delivery
    // Its channel is gone: the broker delivers the original again, so a copy would be a duplicate.
    if (!isOpen(ch)) return
    if (step.to === 'reject') {
      this.settle(ch, raw, 'reject')
      trace.outcome('reject')
      if (this.cursor !== undefined) {
        this.cursor.failed++
        log.error(details, 'amqp stream message failed; passed over: a stream has no retries nor dead-letter queue')
        return
      }
      log.error(details, 'amqp message rejected: no try left and no dead-letter queue (dropped, unless the queue has its own x-dead-letter-exchange)')
      return
    }
    const delay = step.to === 'wait' ? step.delay : undefined
    const moved = await this.move(ch, delivery, step.to === 'wait' ? step.level : 0, delay, { reason, attempt, error: err }, details)
    if (moved === undefined) return
    this.settle(ch, raw, 'ack')
    const trimmed = moved.props.headers?.[HEADERS.trimmed]
    const more = trimmed === undefined ? {} : { trimmed }
    if (step.to === 'wait') {
      trace.event('retry scheduled', { 'fastify_warren.reason': reason, 'fastify_warren.wait_queue': moved.routingKey, 'fastify_warren.retry_in_ms': delay ?? 0 })
      trace.outcome('retry')
      this.ctx.telemetry.retried(this.queue, reason)
      log.warn({ ...details, ...more, retryIn: delay }, 'amqp handler failed; the message will be tried again')
    } else {
      trace.event('dead-lettered', { 'fastify_warren.reason': reason, 'fastify_warren.dead_letter_queue': moved.routingKey })
      trace.outcome('dead-letter')
      this.ctx.telemetry.deadLettered(this.queue, reason)
      log.error({ ...details, ...more, deadLetter: t.deadLetter }, 'amqp message moved to the dead-letter queue')
    }
  }

  /**
   * Publishes the copy of a failed message to its wait queue (`level` ≥ 1)
   * or dead-letter queue (0), confirmed, trying again with backoff while the
   * queue refuses it; resolves with the copy once moved, or undefined when
   * the message was not moved (its channel closed, the consumer stopped, or
   * the copy can never be sent: then the message is rejected).
   */
  private async move (ch: Channel, delivery: Delivery, level: number, delay: number | undefined, failure: Failure, details: object): Promise<Outgoing | undefined> {
    const backoff = new Backoff(this.ctx.reopenDelay, this.ctx.reopenDelayMax)
    let counted = false
    try {
      for (;;) {
        let to: string | undefined
        try {
          to = level > 0 ? await this.failures.waitQueue(level) : await this.failures.deadLetterQueue()
          const copy = this.ctx.envelope.copy(delivery, this.view, { queue: to, delay }, failure)
          await this.ctx.publisher.publish(copy)
          return copy
        } catch (moveErr) {
          if (!isOpen(ch)) return undefined
          const code = (moveErr as { code?: unknown }).code
          if (typeof code === 'string' && PERMANENT.has(code)) {
            this.settle(ch, delivery.raw, 'reject')
            delivery.msg.log.error({ ...details, err: moveErr, to }, 'amqp failed message can never be copied to its wait or dead-letter queue; rejected (dropped, unless the queue has its own x-dead-letter-exchange)')
            return undefined
          }
          // Its wait or dead-letter queue was deleted: declared again on the next try.
          if (to !== undefined && code === 'FST_AMQP_UNROUTABLE') this.failures.forget(to)
          if (this.stopping) {
            delivery.msg.log.warn({ ...details, err: moveErr, to }, 'amqp failed message could not be moved before the consumer stopped; it goes back to the queue')
            return undefined
          }
          if (!counted) {
            counted = true
            this.stuck++
          }
          this.moveError = moveErr as Error
          // The message stays unacked and the copy is tried again, later and
          // later: a queue that refuses copies (a length limit, an alarm) costs
          // neither a tight loop nor another run of the handler.
          const retryIn = backoff.next()
          delivery.msg.log.error({ ...details, err: moveErr, to, retryIn }, 'amqp failed message could not be moved; trying again')
          await this.pause(retryIn)
        }
      }
    } finally {
      if (counted && --this.stuck === 0) this.moveError = undefined
    }
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
   * Sends a reply (a result that cannot be sent as it is becomes an error
   * reply), then acks the request. If the reply cannot be sent the request is
   * requeued once (the requester may still be waiting), then rejected.
   */
  private async answer (ch: Channel, delivery: Delivery, build: () => Outgoing): Promise<void> {
    let reply: Outgoing
    try {
      reply = build()
    } catch (err) {
      delivery.msg.log.error({ err: safeError(err) }, 'amqp reply could not be encoded; the requester gets the error')
      reply = this.ctx.envelope.errorReply(delivery.replyTo!, delivery.correlationId, err)
    }
    try {
      await this.ctx.replies.publish(reply)
    } catch (err) {
      const how = delivery.raw.fields.redelivered ? 'reject' : 'requeue'
      this.settle(ch, delivery.raw, how)
      delivery.trace.outcome(how)
      delivery.msg.log.error({ err, requeued: how === 'requeue' }, 'amqp reply could not be sent')
      return
    }
    delivery.trace.event('reply sent', { 'fastify_warren.reply_to': delivery.replyTo ?? '' })
    delivery.trace.outcome('reply')
    this.settle(ch, delivery.raw, 'ack')
  }

  /**
   * Acks, requeues or rejects on the delivering channel, only while it is open:
   * a stale tag is never sent on a new channel, and the broker redelivers what
   * a closed channel held.
   */
  private settle (ch: Channel, raw: ConsumeMessage, how: 'ack' | 'requeue' | 'reject'): void {
    settled.add(raw)
    if (!isOpen(ch)) {
      this.log.debug({ queue: this.queue }, 'amqp delivery from a closed channel not settled; the broker redelivers it')
      return
    }
    try {
      // A stream takes acks only (RabbitMQ closes the connection for a nack or reject on one): each moves the consumer on.
      if (how === 'ack' || this.cursor !== undefined) ch.ack(raw)
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
    // A single active consumer is not cancelled first: that would hand the queue to the next
    // consumer while handlers run here, and a message they do not finish would come back to
    // it out of order. New deliveries are left unacked instead; closing the channel returns
    // them, and hands over, at once.
    if (ch && this.consumerTag && !this.spec.topology.singleActiveConsumer) await bounded(ch.cancel(this.consumerTag), CANCEL_WAIT)
    if (!await this.inFlight.idle(this.ctx.closeTimeout)) {
      this.log.warn({ queue: this.queue, inFlight: this.inFlight.size }, 'amqp handlers still running at closeTimeout; their messages return to the queue')
    }
    await this.channel.close()
    this.ctx.onStopped(this)
  }
}
