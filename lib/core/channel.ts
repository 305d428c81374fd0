import { EventEmitter } from 'node:events'
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib'
import { Backoff } from './backoff'
import type { Connection } from './connection'
import { FST_AMQP_CLOSED, FST_AMQP_NOT_CONNECTED, retryLater } from './errors'
import type { Log } from './log'
import { bounded } from './timeout'

/** @internal */
export interface ManagedChannelOptions<C extends Channel> {
  /** Shown in logs. */
  name: string
  /** A confirm channel (publishers) or a plain one (consumers). */
  confirm: C extends ConfirmChannel ? true : boolean
  /** Runs on every new channel before it is handed out: declare topology, start consuming. */
  setup: (ch: C) => Promise<void>
  /** First wait before reopening a channel the broker closed, in milliseconds; it doubles while reopening fails. */
  reopenDelay: number
  /** The longest wait between reopening attempts, in milliseconds. */
  reopenDelayMax?: number
}

const closeErrors = new WeakMap<Channel, Error>()
/** Channels that are closing or closed: nothing may be acked or published on them. */
const dead = new WeakSet<Channel>()

/** @internal The error the broker closed this channel with, if it did. */
export function closeError (ch: Channel): Error | undefined {
  return closeErrors.get(ch)
}

/**
 * @internal
 * Whether `ch` is still open. A delivery must be settled on the channel that
 * delivered it, and only while that channel lives: its delivery tags mean
 * nothing on another channel, and the broker redelivers what a closed one held.
 */
export function isOpen (ch: Channel): boolean {
  return !dead.has(ch)
}

/** How long closing a channel waits for the broker's answer, in milliseconds. */
const CLOSE_WAIT = 5000

interface Waiter<C> {
  resolve: (ch: C) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

/**
 * @internal
 * A channel that is reopened (and set up again) after the broker closes it
 * or the connection comes back. Emits 'open' (channel) and 'lost' (channel, error?).
 * Callers that hold a channel must check `isOpen(ch)` before acking on it.
 */
export class ManagedChannel<C extends Channel = Channel> extends EventEmitter {
  private ch: C | undefined
  private opening: Promise<C> | undefined
  private closed = false
  private following = false
  private reopenTimer: NodeJS.Timeout | undefined
  private opened = 0
  private readonly backoff: Backoff
  private readonly waiters = new Set<Waiter<C>>()
  private readonly onConnect = () => {
    this.open().catch((err: Error) => this.setupFailed(err, 'amqp channel setup failed after reconnecting; trying again'))
  }

  /** A setup that failed is reported ('failed') and tried again with backoff while the connection lives. */
  private setupFailed (err: Error, why: string): void {
    if (this.closed) return
    this.log.error({ err, channel: this.opts.name }, 'amqp channel could not be set up')
    this.emit('failed', err)
    if (this.conn.current && !this.ch) this.scheduleReopen(why)
  }

  constructor (
    private readonly conn: Connection,
    private readonly opts: ManagedChannelOptions<C>,
    private readonly log: Log
  ) {
    super()
    this.setMaxListeners(0)
    this.backoff = new Backoff(opts.reopenDelay, opts.reopenDelayMax ?? Math.max(opts.reopenDelay, 30000))
  }

  /** The open, set-up channel, if there is one. */
  get current (): C | undefined {
    return this.ch
  }

  /**
   * Opens the first channel (at once, or when the connection comes back) and
   * follows reconnections; rejects if that first setup fails (and goes on
   * trying, with backoff) or on close.
   */
  start (): Promise<C> {
    if (this.closed) return Promise.reject(this.closedError())
    if (!this.following) {
      this.following = true
      this.conn.on('connect', this.onConnect)
    }
    if (this.conn.current) {
      return this.open().catch((err: Error) => {
        this.setupFailed(err, 'amqp channel setup failed; trying again')
        throw err
      })
    }
    return new Promise<C>((resolve, reject) => {
      const onOpen = (ch: C) => { cleanup(); resolve(ch) }
      const onFailed = (err: Error) => { cleanup(); reject(err) }
      const cleanup = () => {
        this.removeListener('open', onOpen)
        this.removeListener('failed', onFailed)
      }
      this.on('open', onOpen)
      this.on('failed', onFailed)
    })
  }

  /** Resolves with the channel as soon as one is open; rejects after `timeout` ms or on close. */
  waitForChannel (timeout: number): Promise<C> {
    if (this.ch) return Promise.resolve(this.ch)
    if (this.closed) return Promise.reject(this.closedError())
    return new Promise<C>((resolve, reject) => {
      const waiter: Waiter<C> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter)
          reject(retryLater(new FST_AMQP_NOT_CONNECTED(`none within ${timeout} ms`), this.conn.retryAfter()))
        }, timeout)
      }
      this.waiters.add(waiter)
    })
  }

  /** Single flight: concurrent callers share one attempt. */
  private open (): Promise<C> {
    this.opening ??= this.doOpen().finally(() => { this.opening = undefined })
    return this.opening
  }

  private async doOpen (): Promise<C> {
    if (this.ch) return this.ch
    if (this.closed) throw this.closedError()
    const model: ChannelModel | undefined = this.conn.current
    if (!model) throw new FST_AMQP_NOT_CONNECTED('the connection is down')
    const ch = (this.opts.confirm ? await model.createConfirmChannel() : await model.createChannel()) as C
    ch.on('error', (err: Error) => {
      closeErrors.set(ch, err)
      this.log.warn({ err: { message: err.message, code: (err as any).code }, channel: this.opts.name }, 'amqp channel error')
    })
    ch.on('close', () => {
      dead.add(ch)
      this.onClose(ch)
    })
    try {
      await this.opts.setup(ch)
    } catch (err) {
      dead.add(ch)
      ch.close().catch(() => {})
      throw err
    }
    if (this.closed || !isOpen(ch)) {
      dead.add(ch)
      await ch.close().catch(() => {})
      throw this.closed ? this.closedError() : new FST_AMQP_NOT_CONNECTED('the channel closed during its setup')
    }
    this.ch = ch
    this.backoff.reset()
    if (this.opened++ > 0) this.log.info({ channel: this.opts.name }, 'amqp channel set up again')
    this.emit('open', ch)
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer)
      waiter.resolve(ch)
    }
    this.waiters.clear()
    return ch
  }

  private onClose (ch: C): void {
    if (this.ch !== ch) return
    this.ch = undefined
    this.emit('lost', ch, closeErrors.get(ch))
    if (this.closed || !this.conn.current) return // the connection's 'connect' reopens it
    this.scheduleReopen('amqp channel closed by the broker; reopening')
  }

  private scheduleReopen (why: string): void {
    const retryIn = this.backoff.next()
    this.log.warn({ channel: this.opts.name, retryIn }, why)
    clearTimeout(this.reopenTimer)
    this.reopenTimer = setTimeout(() => {
      if (this.closed || !this.conn.current || this.ch) return
      this.open().catch((err: Error) => this.setupFailed(err, 'amqp channel setup failed; trying again'))
    }, retryIn)
  }

  /**
   * Closes the open channel and opens (and sets up) a new one at once: for a
   * channel the broker keeps open but that serves badly (every publish
   * nacked). What was in flight on it fails as it closes ('channel closed').
   * Logs `why` as a warning, with `fields`. Does nothing without a channel.
   */
  reopen (why: string, fields: object = {}): void {
    const ch = this.ch
    if (ch === undefined || this.closed) return
    this.log.warn({ ...fields, channel: this.opts.name }, why)
    this.ch = undefined
    dead.add(ch)
    this.emit('lost', ch, undefined)
    ch.close().catch(() => {})
    this.open().catch((err: Error) => this.setupFailed(err, 'amqp channel setup failed; trying again'))
  }

  private closedError (): Error {
    return new FST_AMQP_CLOSED(`channel ${this.opts.name} is closed`)
  }

  /**
   * Closes the channel and stops following reconnections, waiting at most
   * `wait` ms for the broker to answer (a blocked or silent connection never
   * does). Safe to call twice.
   */
  async close (wait = CLOSE_WAIT): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.conn.removeListener('connect', this.onConnect)
    clearTimeout(this.reopenTimer)
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer)
      waiter.reject(this.closedError())
    }
    this.waiters.clear()
    this.emit('failed', this.closedError())
    await bounded(this.opening?.catch(() => {}), wait)
    const ch = this.ch
    this.ch = undefined
    if (ch) {
      dead.add(ch)
      this.emit('lost', ch, undefined)
      await bounded(ch.close().catch(() => {}), wait)
    }
  }
}
