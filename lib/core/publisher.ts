import { isOwnIdForm, uniqueId } from './ids'
import type { Channel, ConfirmChannel, Message } from 'amqplib'
import { messageTooLarge, missingExchange } from './broker-errors'
import { closeError, isOpen, ManagedChannel } from './channel'
import type { Connection } from './connection'
import { ConfirmWindow } from './confirm-window'
import { describeError, type Outgoing, type PublishProperties } from './envelope'
import { KnownExchanges } from './exchanges'
import {
  FST_AMQP_BLOCKED,
  FST_AMQP_BUFFER_FULL,
  FST_AMQP_CLOSED,
  FST_AMQP_ENCODE,
  FST_AMQP_EXCHANGE_NOT_FOUND,
  FST_AMQP_MESSAGE_TOO_LARGE,
  FST_AMQP_NOT_CONNECTED,
  FST_AMQP_PUBLISH_NACKED,
  FST_AMQP_PUBLISH_UNCONFIRMED,
  FST_AMQP_UNROUTABLE,
  retryLater
} from './errors'
import type { Log } from './log'
import { NackRun } from './nack-run'
import { bounded, withTimeout } from './timeout'

/** @internal */
export interface PublisherOptions {
  name: string
  /** How long a publish may take in all (waiting for a connection, then for the confirm), in milliseconds. */
  publishTimeout: number
  /** How many publishes may wait for a connection (or for the broker to unblock); 0 rejects them at once. */
  bufferSize: number
  /** How many bytes (bodies and headers) those may hold in all; 0 rejects them at once. */
  bufferBytes: number
  reopenDelay: number
  reopenDelayMax?: number
  /** Exchanges known to exist (declared by us); others are checked once before the first publish. */
  knownExchanges: string[]
  /** Extra setup on every new channel (the RPC client consumes direct reply-to here). */
  setup?: (ch: Channel) => Promise<void>
  /**
   * false: a plain channel, and a publish resolves once it is written, not
   * confirmed. For messages whose own answer is the confirmation (requests:
   * the reply) or that are at most once anyway (direct reply-to replies).
   * A mandatory message the broker returns then goes to `onReturn`.
   * @default true
   */
  confirm?: boolean
  onReturn?: (msg: Message) => void
}

/** With publishBuffer 0: how many publishes may wait for a channel being set up on a live connection. */
const SETUP_HOLD = 1000

/** @internal The header that tells apart two mandatory publishes in flight with the same message id. */
export const TOKEN_HEADER = 'x-warren-publish'

/** The key a return is recorded under: its token if it has one, else its message id. */
function returnKey (token: unknown, messageId: unknown): string | undefined {
  if (typeof token === 'string') return 't:' + token
  return typeof messageId === 'string' ? 'm:' + messageId : undefined
}

/** How often deadlines are checked, in milliseconds: a timeout fires at most this late. */
const SWEEP_EVERY = 50

const EMPTY = Buffer.alloc(0)
/** What a written job keeps of its properties: nothing (they were let go with the body). */
const NO_PROPS: PublishProperties = Object.freeze({})

/** The message of the error a nacked publish is confirmed with (as amqplib's callbacks have it). */
const NACKED = 'message nacked'

/**
 * One publish, from the call until the broker's confirm (or its failure).
 * Its content and properties are let go once written: a publish is never
 * sent twice, and a confirm needs neither.
 */
interface Job {
  exchange: string
  routingKey: string
  content: Buffer
  props: PublishProperties
  /** The body's size, kept when the body is let go (to name the one the broker refused). */
  size: number
  /** What holding it costs the buffer: body and encoded headers. */
  bytes: number
  mandatory: boolean
  messageId: string | undefined
  /** Its message id is its own (made for it by the envelope): no other publish in flight has it. */
  freshId: boolean
  timeout: number
  deadline: number
  value: unknown
  resolve: (value: any) => void
  reject: (err: Error) => void
  /** The channel it was written to, once it was. */
  ch: Channel | undefined
  /** Settled (confirmed, failed or timed out): a late confirm is ignored. */
  done: boolean
  /** Set when another publish may have had the same message id in flight (see tag()). */
  token: string | undefined
  /** Counted in idsInFlight (see tag()). */
  tagged: boolean
}

/**
 * @internal
 * Publishes on a confirm channel and resolves when the broker confirms (or,
 * with `confirm: false`, on a plain channel once the message is written).
 * While there is no channel, or the broker blocks publishing, publishes wait
 * in a bounded buffer (in order) until the channel is back or their deadline
 * passes. A mandatory message the broker returns (basic.return precedes
 * basic.ack) rejects with FST_AMQP_UNROUTABLE. Nothing is ever resent on its
 * own: a publish that was written but not confirmed rejects with
 * FST_AMQP_PUBLISH_UNCONFIRMED, and the caller decides.
 */
export class Publisher {
  readonly channel: ManagedChannel<Channel>
  private readonly confirm: boolean
  /** What each confirm channel has in flight, by publish sequence; `window` is the current channel's. */
  private readonly windows = new Map<Channel, ConfirmWindow<Job>>()
  private window: ConfirmWindow<Job> | undefined
  private windowOf: Channel | undefined
  /** Publishes written and not yet settled (confirmed, failed or timed out). */
  private unsettled = 0
  /** No written publish is due before this (it may be earlier than the first due: then a sweep finds none). */
  private earliest = Infinity
  private readonly exchanges: KnownExchanges
  private buffer: Job[] = []
  /** Bytes held by the jobs in `buffer`. */
  private heldBytes = 0
  /** Message ids of the mandatory publishes in flight, and how many of each: a second one with the same id gets a token. */
  private readonly idsInFlight = new Map<string, number>()
  /** amqplib's buffer for the channel is full: hold publishes until it drains. */
  private congested: Channel | undefined
  private sweeper: NodeJS.Timeout | undefined
  private onIdle: (() => void) | undefined
  private starting: Promise<Channel> | undefined
  private closed = false
  /** A run of nacks on the confirm channel: reopened past its bound (NACK_RUN_LIMIT), degraded until an ack. */
  private readonly nacks = new NackRun()

  constructor (private readonly conn: Connection, private readonly opts: PublisherOptions, private readonly log: Log) {
    this.exchanges = new KnownExchanges(opts.knownExchanges, {
      conn,
      waitForChannel: (timeout) => this.channel.waitForChannel(timeout),
      refuseNow: () => this.opts.bufferSize === 0 || this.opts.bufferBytes === 0 ? this.later(this.waitError(0)) : undefined
    })
    this.confirm = opts.confirm ?? true
    this.channel = new ManagedChannel<Channel>(conn, {
      name: opts.name,
      confirm: this.confirm,
      reopenDelay: opts.reopenDelay,
      reopenDelayMax: opts.reopenDelayMax,
      setup: async (ch) => {
        if (this.confirm) {
          this.track(ch)
        } else if (opts.onReturn) {
          ch.on('return', opts.onReturn)
        }
        if (opts.setup) await opts.setup(ch)
      }
    }, log)
    this.channel.on('open', () => {
      this.nacks.opened()
      this.flush()
    })
    this.channel.on('lost', (_ch: Channel, err?: Error) => {
      // An exchange deleted since it was checked closed the channel: check it again next time.
      const missing = missingExchange(err)
      if (missing !== undefined) this.exchanges.forget(missing)
      // A body over the broker's max_message_size closed it: refuse such bodies before sending from now on.
      const tooLarge = messageTooLarge(err)
      if (tooLarge !== undefined) conn.learnMaxMessageSize(tooLarge.max)
    })
    conn.on('unblocked', () => this.flush())
  }

  /** Opens the channel (and follows reconnections); rejects if that first setup fails. */
  start (): Promise<Channel> {
    this.starting ??= this.channel.start()
    return this.starting
  }

  /** Publishes waiting for a connection or for the broker to unblock. */
  get buffered (): number {
    return this.buffer.length
  }

  /** Bytes (bodies and headers) those hold. */
  get bufferedBytes (): number {
    return this.heldBytes
  }

  /** True while its publishes get only nacks, past the bound (NACK_RUN_LIMIT), until one is acked. */
  get nacked (): boolean {
    return this.nacks.degraded
  }

  /**
   * Resolves with `value` when the broker confirms, within `timeout` ms in all;
   * rejects with a coded error otherwise. `message` comes from the envelope,
   * checked.
   */
  publish (message: Outgoing, timeout = this.opts.publishTimeout, value?: unknown): Promise<any> {
    if (this.closed) return Promise.reject(new FST_AMQP_CLOSED('publish() after close'))
    // A publisher nobody started (the replies') opens its channel on first use; until then the message is held.
    if (this.starting === undefined) this.start().catch(() => { this.starting = undefined })
    const { exchange, props } = message
    const known = this.exchanges.check(exchange, timeout)
    if (known !== true) {
      const deadline = Date.now() + timeout
      // The check may wait on a blocked or silent connection: it counts against this publish's timeout.
      return withTimeout(known, timeout, () => this.later(this.waitError(timeout)))
        .then(() => this.publish(message, Math.max(1, deadline - Date.now()), value))
    }
    return new Promise((resolve, reject) => {
      const job: Job = {
        exchange,
        routingKey: message.routingKey,
        content: message.content,
        props,
        size: message.content.length,
        bytes: message.bytes,
        mandatory: props.mandatory === true,
        messageId: props.messageId,
        freshId: message.freshId,
        timeout,
        deadline: Date.now() + timeout,
        value,
        resolve,
        reject,
        ch: undefined,
        done: false,
        token: undefined,
        tagged: false
      }
      const ch = this.channel.current
      if (ch === undefined || this.conn.blocked || this.congested === ch || this.buffer.length > 0 || !this.send(ch, job)) this.hold(job)
    })
  }

  /**
   * Writes the message on `ch`; false if the channel was closing and nothing
   * was sent. amqplib encodes the whole message before writing any of it (and
   * a confirm channel counts it only once written), so a message it cannot
   * encode fails alone, here, and the channel goes on.
   */
  private send (ch: Channel, job: Job): boolean {
    // A body held since before the broker's limit was learnt would close the channel again.
    const brokerMax = this.conn.brokerMaxMessageSize
    if (brokerMax !== undefined && job.size > brokerMax) {
      this.fail(job, new FST_AMQP_MESSAGE_TOO_LARGE(job.size, brokerMax, 'the broker\'s max_message_size'))
      return true
    }
    let room: boolean
    try {
      if (!this.confirm) {
        room = ch.publish(job.exchange, job.routingKey, job.content, job.props)
        job.done = true
        job.resolve(job.value)
      } else {
        const window = this.windowFor(ch)
        this.tag(job)
        // No callback: the window settles it from the channel's ack and nack (see track()).
        room = (ch as ConfirmChannel).publish(job.exchange, job.routingKey, job.content, job.props)
        window.push(job)
      }
    } catch (err) {
      this.untag(job)
      // The channel is closing: nothing went out, so the next channel may send it.
      if (!isOpen(ch) || (err as { name?: unknown })?.name === 'IllegalOperationError') return false
      // Anything else is about this message: it fails, alone.
      this.fail(job, new FST_AMQP_ENCODE(`amqplib could not write it: ${describeError(err).message}`, { cause: err }))
      return true
    }
    job.content = EMPTY
    job.props = NO_PROPS
    if (!room) this.congest(ch)
    if (this.confirm) {
      job.ch = ch
      this.unsettled++
      if (job.deadline < this.earliest) this.earliest = job.deadline
      this.watch()
    }
    return true
  }

  /**
   * Follows a new confirm channel: its publishes are numbered from 1 and
   * kept in a window until the broker acks or nacks them, or the channel
   * closes (then they fail as unconfirmed). A basic.return comes before the
   * confirm of its message: its key waits in the window for that confirm.
   */
  private track (ch: Channel): void {
    const window = new ConfirmWindow<Job>()
    this.windows.set(ch, window)
    this.window = window
    this.windowOf = ch
    const acked = (job: Job): void => this.confirmed(job, window, null)
    const nacked = (job: Job): void => this.confirmed(job, window, new Error(NACKED))
    ch.on('ack', (f: { deliveryTag: number, multiple: boolean }) => window.confirm(f.deliveryTag, f.multiple, acked))
    ch.on('nack', (f: { deliveryTag: number, multiple: boolean }) => window.confirm(f.deliveryTag, f.multiple, nacked))
    ch.on('close', () => {
      this.windows.delete(ch)
      const closed = new Error('channel closed')
      window.clear((job) => this.confirmed(job, window, closed))
      this.checkIdle()
    })
    ch.on('return', (msg: Message) => {
      // An own key only: amqplib decodes a header named __proto__ into the prototype.
      const headers = msg.properties.headers
      const token = headers !== undefined && Object.hasOwn(headers, TOKEN_HEADER) ? headers[TOKEN_HEADER] : undefined
      const key = returnKey(token, msg.properties.messageId)
      if (key !== undefined) window.returned.add(key)
    })
  }

  /** The window of `ch`: almost always the current channel's. */
  private windowFor (ch: Channel): ConfirmWindow<Job> {
    if (ch === this.windowOf) return this.window!
    const window = this.windows.get(ch)
    if (window === undefined) throw new Error('a confirm channel the publisher did not set up')
    return window
  }

  /**
   * amqplib keeps what the socket has not taken in a buffer per channel, and
   * says when it is full: later publishes then wait in ours (bounded, with
   * their deadlines) until it drains.
   */
  private congest (ch: Channel): void {
    if (this.congested === ch) return
    this.congested = ch
    const closed = (): void => {
      if (this.congested === ch) this.congested = undefined
    }
    // One pair of listeners per congestion, each removing the other: a channel congests thousands of times in its life.
    ch.once('close', closed)
    ch.once('drain', () => {
      ch.removeListener('close', closed)
      if (this.congested === ch) this.congested = undefined
      this.flush()
    })
  }

  /**
   * A basic.return is matched to its publish by message id. An id the
   * envelope made for this publish is in flight nowhere else. Any other (a
   * caller's own, a retry copy's) is counted while in flight, and a second
   * one with the same id gets a token header, so each return finds its own;
   * so does one that looks like an id made here, which a caller may have
   * copied from a publish still in flight.
   */
  private tag (job: Job): void {
    if (!job.mandatory || job.freshId) return
    const id = job.messageId!
    const n = this.idsInFlight.get(id) ?? 0
    this.idsInFlight.set(id, n + 1)
    job.tagged = true
    if ((n > 0 || isOwnIdForm(id)) && job.token === undefined) {
      job.token = uniqueId()
      job.props.headers = { ...job.props.headers, [TOKEN_HEADER]: job.token }
    }
  }

  private untag (job: Job): void {
    if (!job.tagged) return
    job.tagged = false
    const id = job.messageId!
    const n = this.idsInFlight.get(id) ?? 0
    if (n <= 1) this.idsInFlight.delete(id)
    else this.idsInFlight.set(id, n - 1)
  }

  /**
   * Keeps a publish until a channel is there, or refuses it when the buffer is
   * off or full. With publishBuffer 0, a publish still waits while the
   * connection is up and its channel is being set up (the first publishes
   * after boot or a reconnection), up to SETUP_HOLD of them.
   */
  private hold (job: Job): void {
    if (this.closed) return this.fail(job, new FST_AMQP_CLOSED('the publisher closed before the message could be sent'))
    const { bufferSize, bufferBytes } = this.opts
    const none = bufferSize === 0 || bufferBytes === 0
    const off = none && (this.conn.current === undefined || this.conn.blocked)
    const limit = none ? SETUP_HOLD : bufferSize
    if (off) return this.fail(job, this.later(this.waitError(0)))
    // The byte bound counts what already waits: one message, however large (up to maxMessageSize), may always wait.
    if (this.buffer.length >= limit || (!none && this.buffer.length > 0 && this.heldBytes + job.bytes > bufferBytes)) {
      return this.fail(job, this.later(new FST_AMQP_BUFFER_FULL(this.buffer.length, this.heldBytes)))
    }
    this.buffer.push(job)
    this.heldBytes += job.bytes
    this.watch()
  }

  /** Sends what waits, in order, while the channel is open, has room, and the broker does not block. */
  private flush (): void {
    const ch = this.channel.current
    // eslint-disable-next-line no-unmodified-loop-condition -- send() can close ch
    while (ch && isOpen(ch) && !this.conn.blocked && this.congested !== ch && this.buffer.length > 0) {
      const job = this.buffer.shift()!
      this.heldBytes -= job.bytes
      if (job.done) continue
      if (!this.send(ch, job)) {
        this.buffer.unshift(job)
        this.heldBytes += job.bytes
        break
      }
    }
    this.checkIdle()
  }

  private confirmed (job: Job, window: ConfirmWindow<Job>, err: Error | null): void {
    // Late confirms count too: they say how the channel fares.
    if (err === null) this.onAck()
    else if (err.message === NACKED && job.ch === this.channel.current) this.onNack()
    const unroutable = job.mandatory && window.returned.size > 0 && window.returned.delete(returnKey(job.token, job.messageId)!)
    this.untag(job)
    if (job.done) return
    if (unroutable) this.fail(job, new FST_AMQP_UNROUTABLE(job.exchange, job.routingKey))
    else if (err) this.fail(job, this.publishError(job, err))
    else {
      job.done = true
      this.unsettled--
      job.resolve(job.value)
    }
    this.checkIdle()
  }

  /** An ack ends a run of nacks. */
  private onAck (): void {
    if (this.nacks.degraded) this.log.info({ channel: this.opts.name }, 'amqp publishes are acked again')
    this.nacks.ack()
  }

  /**
   * A nack on the current channel. Only nacks for longer than the bound: the
   * channel is reopened (one seen after a quorum queue's leader moved nacked
   * everything for 22 s, although the queue had a new leader within 350 ms).
   */
  private onNack (): void {
    if (!this.nacks.nack()) return
    const { nacks, ms } = this.nacks.run
    this.channel.reopen(`amqp publishes have all been nacked for ${ms} ms; reopening the channel`, { nacks, ms })
  }

  private fail (job: Job, err: Error): void {
    if (job.done) return
    job.done = true
    // A written one (only confirmed publishes are kept once written) is no longer awaited.
    if (job.ch !== undefined) this.unsettled--
    // Format the stack now: V8 keeps an unformatted one as live frames, whose
    // closures hold the message, body included, for as long as the error lives.
    err.stack = String(err.stack)
    job.content = EMPTY
    job.reject(err)
  }

  /**
   * Names why a publish failed: a nack, a missing exchange, a body over the
   * broker's max_message_size (the broker names its size, so the culprit is
   * told from its neighbours), or a channel that closed first.
   */
  private publishError (job: Job, err: Error): Error {
    const { exchange, routingKey } = job
    if (err.message === NACKED) return new FST_AMQP_PUBLISH_NACKED(exchange, routingKey, { cause: err })
    const closedWith = closeError(job.ch!)
    // The exchange was deleted after it was checked ('lost' forgets it, so it is checked again).
    if (exchange !== '' && missingExchange(closedWith) === exchange) return new FST_AMQP_EXCHANGE_NOT_FOUND(exchange, { cause: closedWith })
    const tooLarge = messageTooLarge(closedWith)
    if (tooLarge !== undefined && job.size > tooLarge.max) {
      return new FST_AMQP_MESSAGE_TOO_LARGE(job.size, tooLarge.max, 'the broker\'s max_message_size', { cause: closedWith })
    }
    const why = tooLarge !== undefined ? 'the broker closed the channel for another message, over its max_message_size' : 'the channel closed first'
    return this.later(new FST_AMQP_PUBLISH_UNCONFIRMED(exchange, routingKey, why, { cause: closedWith ?? err }))
  }

  /** `err` with a Retry-After header taken from the reconnection backoff. */
  private later<E extends Error> (err: E): E {
    return retryLater(err, this.conn.retryAfter())
  }

  /** Why a held publish could not go out in `waited` ms. */
  private waitError (waited: number): Error {
    const reason = this.conn.blockedBy
    if (reason !== undefined) return new FST_AMQP_BLOCKED(reason, waited)
    const off = this.opts.bufferSize === 0 ? 'publishBuffer' : 'publishBufferBytes'
    return new FST_AMQP_NOT_CONNECTED(waited === 0 ? `${off} is 0, so publishes are refused while disconnected` : `none within ${waited} ms`)
  }

  /** Starts checking deadlines while anything waits or is in flight. */
  private watch (): void {
    if (this.sweeper) return
    this.sweeper = setInterval(() => this.sweep(), SWEEP_EVERY)
    this.sweeper.unref()
  }

  /** Fails every publish past its deadline: held ones were never sent, written ones may have been. */
  private sweep (): void {
    const now = Date.now()
    if (this.buffer.length > 0) {
      const late = this.buffer.filter((job) => job.done || job.deadline <= now)
      if (late.length > 0) {
        this.buffer = this.buffer.filter((job) => !job.done && job.deadline > now)
        for (const job of late) this.heldBytes -= job.bytes
        for (const job of late) this.fail(job, this.later(this.waitError(job.timeout)))
      }
    }
    // The written ones are looked through only once one may be due: not every 50 ms with thousands in flight.
    if (now >= this.earliest) {
      let next = Infinity
      for (const job of this.written()) {
        if (job.done) continue
        if (job.deadline > now) {
          if (job.deadline < next) next = job.deadline
          continue
        }
        const why = this.conn.blocked ? `no confirm within ${job.timeout} ms; the broker blocks publishing` : `no confirm within ${job.timeout} ms`
        this.fail(job, this.later(new FST_AMQP_PUBLISH_UNCONFIRMED(job.exchange, job.routingKey, why)))
      }
      this.earliest = next
    }
    this.checkIdle()
  }

  /** Every publish written and not yet confirmed, on any channel (a closed one's are failed already). */
  private * written (): IterableIterator<Job> {
    for (const window of this.windows.values()) yield * window
  }

  private checkIdle (): void {
    if (this.buffer.length > 0 || this.unsettled > 0) return
    if (this.sweeper) {
      clearInterval(this.sweeper)
      this.sweeper = undefined
    }
    this.onIdle?.()
  }

  /**
   * Waits (at most `timeout` ms) for the held publishes to go out and every
   * confirm to come in, then fails what is left and closes the channel.
   * Safe to call twice.
   */
  async close (timeout: number): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.buffer.length > 0 || this.unsettled > 0) {
      await bounded(new Promise<void>((resolve) => { this.onIdle = resolve }), timeout)
    }
    this.onIdle = undefined
    for (const job of this.buffer) this.fail(job, new FST_AMQP_CLOSED('the app closed before the message could be sent'))
    this.buffer = []
    this.heldBytes = 0
    // Confirms still missing fail now, not whenever the channel's close is answered (never, on a blocked connection).
    for (const job of this.written()) {
      this.fail(job, this.later(new FST_AMQP_PUBLISH_UNCONFIRMED(job.exchange, job.routingKey, 'the app closed before the broker confirmed it')))
    }
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = undefined
    await this.channel.close()
  }
}
