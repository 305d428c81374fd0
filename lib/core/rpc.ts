import type { ConsumeMessage } from 'amqplib'
import type { Connection } from './connection'
import { invalidReply, whenChecked, type Check } from '../contracts/validate'
import type { Envelope, Outgoing } from './envelope'
import {
  FST_AMQP_CLOSED,
  FST_AMQP_EXCHANGE_NOT_FOUND,
  FST_AMQP_RPC_INTERRUPTED,
  FST_AMQP_RPC_TIMEOUT,
  FST_AMQP_UNROUTABLE
} from './errors'
import type { Log } from './log'
import { missingExchange } from './broker-errors'
import { Publisher, type PublisherOptions } from './publisher'

/** @internal How a request is sent. */
export interface Call {
  exchange: string
  routingKey: string
  timeout: number
  headers: Record<string, unknown> | undefined
  /** The reply's schema check, for a defined request. */
  reply?: Check
}

/**
 * @internal
 * Whatever waits for the replies to one request: one reply (request()) or
 * many (gather()). The client calls exactly one of the settling methods
 * (`reply` returning true, `timeout`, `lost`, `failed`, `closed`) once.
 */
export interface Waiter {
  /** One reply arrived; returns true when no more are wanted. */
  reply (msg: ConsumeMessage): boolean
  /** The deadline passed; `sent` says whether the request had been written by then. */
  timeout (sent: boolean): void
  /** The channel the request went out on was lost: no more replies can arrive. */
  lost (): void
  /** The request could not be sent (unroutable, no connection...). */
  failed (err: Error): void
  /** The app is closing. */
  closed (): void
}

interface Pending {
  waiter: Waiter
  timer: NodeJS.Timeout
  /** Set once the request is written: its reply can only come to the channel it went out on. */
  sent: boolean
  /** The exchange it went to, to tell a request to a deleted exchange from one interrupted by it. */
  exchange: string
  routingKey: string
}

/** What request() waits with: one reply, decoded, or a coded error. */
class RequestWaiter implements Waiter {
  constructor (
    private readonly envelope: Envelope,
    private readonly call: Call,
    private readonly resolve: (body: unknown) => void,
    private readonly reject: (err: Error) => void
  ) {}

  reply (msg: ConsumeMessage): boolean {
    let body
    try {
      body = this.envelope.openReply(msg, this.call.routingKey)
    } catch (err) {
      this.failed(err as Error)
      return true
    }
    const check = this.call.reply
    if (check === undefined) {
      this.resolve(body)
      return true
    }
    whenChecked(check(body), (checked) => {
      if (checked.ok) this.resolve(checked.value)
      else this.failed(invalidReply(this.call.routingKey, checked.issues))
    })
    return true
  }

  timeout (): void {
    this.failed(new FST_AMQP_RPC_TIMEOUT(this.call.routingKey, this.call.timeout))
  }

  lost (): void {
    this.failed(new FST_AMQP_RPC_INTERRUPTED(this.call.routingKey))
  }

  failed (err: Error): void {
    this.reject(err)
  }

  closed (): void {
    this.failed(new FST_AMQP_CLOSED('the app closed while the request waited for its reply'))
  }
}

/** @internal The requester side of RPC, over direct reply-to with correlation ids. */
export class RpcClient {
  private readonly pending = new Map<string, Pending>()
  private readonly publisher: Publisher
  private starting: Promise<unknown> | undefined
  private closed = false
  /** Told of every request() that got no reply in time (the RPC timeouts metric); not of gathers. */
  onTimedOut: ((routingKey: string) => void) | undefined

  constructor (conn: Connection, readonly envelope: Envelope, opts: Omit<PublisherOptions, 'name' | 'setup' | 'confirm' | 'onReturn'>, private readonly log: Log) {
    this.publisher = new Publisher(conn, {
      name: 'rpc',
      ...opts,
      // No publisher confirms: the reply is the confirmation, and the request's
      // timeout covers its loss. A request no queue takes comes back as a
      // basic.return (it is mandatory), matched by its correlation id.
      confirm: false,
      onReturn: (msg) => this.onReturn(msg),
      // Direct reply-to: the reply consumer must live on the channel that publishes the requests.
      setup: async (ch) => {
        await ch.consume('amq.rabbitmq.reply-to', (msg) => this.onReply(msg), { noAck: true })
      }
    }, log)
    // Replies to requests sent on a lost channel can never arrive.
    this.publisher.channel.on('lost', (_ch: unknown, err?: Error) => {
      // A request to an exchange deleted since it was checked makes the broker
      // close the channel: that request fails with FST_AMQP_EXCHANGE_NOT_FOUND,
      // the others written on the channel with FST_AMQP_RPC_INTERRUPTED.
      const missing = missingExchange(err)
      for (const [id, p] of this.pending) {
        if (!p.sent) continue
        const waiter = this.settle(id, p)
        if (missing !== undefined && p.exchange === missing) waiter?.failed(new FST_AMQP_EXCHANGE_NOT_FOUND(missing, { cause: err }))
        else waiter?.lost()
      }
    })
  }

  /** Requests held until the connection is back. */
  get buffered (): number {
    return this.publisher.buffered
  }

  /**
   * Resolves with the decoded reply; rejects with a coded error, at the
   * latest after `call.timeout` ms, with the stack of the code awaiting it
   * appended: the error is made later, in a callback, with no caller of its
   * own. That stack is taken only on failure, from V8's async stack trace
   * (every `await` up the chain); taking the caller's stack on every call
   * cost a request 5 µs.
   */
  async request (call: Call, message: Outgoing): Promise<unknown> {
    try {
      return await new Promise((resolve, reject) => {
        this.call(call, message, new RequestWaiter(this.envelope, call, resolve, reject))
      })
    } catch (err) {
      throw withAwaiters(err as Error, 'request()')
    }
  }

  /**
   * Sends one request (built by the envelope, with its correlation id) and
   * routes every reply with that id to `waiter` until it is done, the
   * deadline passes or the channel is lost.
   */
  call (call: Call, message: Outgoing, waiter: Waiter): void {
    if (this.closed) return waiter.closed()
    const correlationId = message.props.correlationId!
    const timer = setTimeout(this.onTimeout, call.timeout, correlationId)
    this.pending.set(correlationId, { waiter, timer, sent: false, exchange: call.exchange, routingKey: call.routingKey })
    // The channel (with its reply consumer) is set up in the background; until
    // it is open the request waits in the publisher's buffer, like any publish.
    this.starting ??= this.publisher.start().catch((err: Error) => {
      this.starting = undefined // the next request tries again
      if (!this.closed) this.log.warn({ err }, 'amqp RPC channel could not be set up; requests wait for it')
    })
    this.publisher.publish(message, call.timeout, correlationId).then(this.onSent, (err: Error) => {
      const p = this.pending.get(correlationId)
      if (p) this.settle(correlationId, p)?.failed(err)
    })
  }

  private readonly onSent = (correlationId: string): void => {
    const p = this.pending.get(correlationId)
    if (p) p.sent = true
  }

  private readonly onTimeout = (correlationId: string): void => {
    const p = this.pending.get(correlationId)
    if (p === undefined) return
    // A gather's deadline is how it ends, not a timeout.
    if (p.waiter instanceof RequestWaiter) this.onTimedOut?.(p.routingKey)
    this.settle(correlationId, p)?.timeout(p.sent)
  }

  private onReturn (msg: { fields: { exchange: string, routingKey: string }, properties: { correlationId?: unknown } }): void {
    const id = msg.properties.correlationId
    const p = typeof id === 'string' ? this.pending.get(id) : undefined
    if (p) this.settle(id as string, p)?.failed(new FST_AMQP_UNROUTABLE(msg.fields.exchange, msg.fields.routingKey))
  }

  private onReply (msg: ConsumeMessage | null): void {
    if (!msg) return
    const id = msg.properties.correlationId
    const p = typeof id === 'string' ? this.pending.get(id) : undefined
    if (!p) return // a late reply to a request that is over
    if (p.waiter.reply(msg)) this.settle(id, p)
  }

  /** Forgets a pending request and returns its waiter, to be told how it ended. */
  private settle (id: string, p: Pending): Waiter | undefined {
    if (this.pending.get(id) !== p) return undefined
    this.pending.delete(id)
    clearTimeout(p.timer)
    return p.waiter
  }

  /**
   * Ends every pending request (request() rejects with FST_AMQP_CLOSED) and
   * closes the channel at once: a request still held for a connection has
   * nobody waiting for it any more. Safe to call twice.
   */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const [id, p] of this.pending) this.settle(id, p)?.closed()
    await this.publisher.close(0)
  }
}

/** @internal Where a call was made: its caller's stack, so a late failure still points there. */
export interface Origin {
  method: string
  stack?: string
}

/** @internal Captures the stack of whoever called `fn` (named `method` in the error). */
export function callerStack (fn: Function, method: string): Origin {
  const origin: Origin = { method }
  Error.captureStackTrace(origin, fn)
  return origin
}

/** @internal Appends the caller's stack to a late error. */
export function withOrigin (err: Error, origin: Origin, how = 'called'): Error {
  if (origin.stack && err.stack) err.stack += `\n    --- ${origin.method} ${how} at ---` + origin.stack.slice(origin.stack.indexOf('\n'))
  return err
}

/** The stack of each error withAwaiters() has appended to, as it was before. */
const unannotated = new WeakMap<Error, string>()

/**
 * @internal
 * Appends to a late error the stack of the code awaiting it: called in the
 * `catch` of an async function, V8 lists every function up the `await` chain.
 */
export function withAwaiters (err: Error, method: string): Error {
  const here: Origin = { method }
  Error.captureStackTrace(here, withAwaiters)
  const base = unannotated.get(err)
  if (base === undefined) {
    unannotated.set(err, String(err.stack))
    return withOrigin(err, here, 'awaited')
  }
  // Requests that shared a wait (one exchange check) reject with one error:
  // each caller after the first gets a copy with its own frames, not the
  // first's with every caller's appended.
  const own = Object.create(Object.getPrototypeOf(err)) as Error
  Object.defineProperties(own, Object.getOwnPropertyDescriptors(err))
  own.stack = base
  unannotated.set(own, base)
  return withOrigin(own, here, 'awaited')
}
