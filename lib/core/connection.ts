import { EventEmitter } from 'node:events'
import type { ChannelModel } from 'amqplib'
import type { ConnectionManager, Transport } from '../transport/transport'
import { Backoff } from './backoff'
import { fatalConnectError } from './broker-errors'
import { FST_AMQP_CLOSED, FST_AMQP_CONNECT_TIMEOUT } from './errors'
import { withFields, type Log } from './log'
import { redactUrl, type NormalizedOptions } from './options'
import { bounded } from './timeout'

type State = 'idle' | 'connecting' | 'open' | 'closing' | 'closed'

/** A connection error's message and code only: never the URL with its password. */
function describeError (err: unknown): { message: string, code: unknown } | undefined {
  if (!err) return undefined
  const e = err as { message?: string, code?: unknown }
  return { message: String(e.message ?? err), code: e.code }
}

/**
 * @internal
 * One broker connection, kept alive by the transport's connection manager
 * (amqp-connection-manager for RabbitMQ), which waits between attempts as long
 * as our backoff says (it reads reconnectTimeInSeconds right after emitting
 * 'disconnect' or 'connectFailed').
 * Emits 'connect' (ChannelModel) after every (re)connection, 'disconnect',
 * 'blocked' and 'unblocked'.
 */
export class Connection extends EventEmitter {
  private manager: ConnectionManager | undefined
  private state: State = 'idle'
  private blockedReason: string | undefined
  private closing: Promise<void> | undefined
  private readonly displayUrl: string
  private readonly backoff: Backoff
  private connections = 0
  private brokerMax: number | undefined

  private readonly log: Log

  /**
   * `role` names the connection: the publishing one carries connectionName,
   * the consuming one connectionName + " (consumers)", in the broker's
   * connection list and in every log line.
   */
  constructor (
    private readonly opts: NormalizedOptions,
    log: Log,
    private readonly transport: Transport,
    readonly role: 'publish' | 'consume' = 'publish'
  ) {
    super()
    this.log = withFields(log, { connection: role })
    this.setMaxListeners(0)
    this.displayUrl = opts.urls.map(redactUrl).join(', ')
    this.backoff = new Backoff(opts.reconnectDelay, opts.reconnectDelayMax)
  }

  /** The live amqplib connection, if any. */
  get current (): ChannelModel | undefined {
    return this.state === 'open' ? this.manager?.connection : undefined
  }

  get closed (): boolean {
    return this.state === 'closing' || this.state === 'closed'
  }

  /** True while the broker blocks publishers (memory or disk alarm). */
  get blocked (): boolean {
    return this.blockedReason !== undefined
  }

  /** Why the broker blocks publishers, while it does. */
  get blockedBy (): string | undefined {
    return this.blockedReason
  }

  /** The broker's max_message_size, once it has refused a body for it (RabbitMQ does not announce it). */
  get brokerMaxMessageSize (): number | undefined {
    return this.brokerMax
  }

  /** Records the broker's max_message_size, read from its refusal of a body. */
  learnMaxMessageSize (bytes: number): void {
    if (this.brokerMax !== bytes) this.log.warn({ maxMessageSize: bytes }, 'amqp broker refused a body over its max_message_size: larger bodies are now refused before sending (set maxMessageSize to match)')
    this.brokerMax = bytes
  }

  /** The frame size negotiated with the broker (amqplib's default until connected): it bounds a message's headers. */
  get frameMax (): number {
    const frameMax = (this.current as unknown as { connection?: { frameMax?: unknown } } | undefined)?.connection?.frameMax
    return typeof frameMax === 'number' && frameMax > 0 ? frameMax : 131072
  }

  /** A guess at when to try again, in whole seconds (at least 1), for a Retry-After header. */
  retryAfter (): number {
    return Math.max(1, Math.ceil(this.backoff.peek() / 1000))
  }

  /** The wait before the next attempt: set on the manager, which reads it right after the event that called this. */
  private scheduleRetry (manager: ConnectionManager): number {
    const delay = this.backoff.next()
    manager.reconnectTimeInSeconds = delay / 1000
    return delay
  }

  /** Connects, resolving on the first connection and rejecting with a coded error on a fatal one or at connectTimeout. */
  async open (): Promise<void> {
    if (this.state !== 'idle') throw new FST_AMQP_CLOSED('open() called twice')
    this.state = 'connecting'
    const { opts, log } = this
    const manager = this.transport.connect({
      heartbeat: opts.heartbeat,
      reconnectDelay: opts.reconnectDelay,
      connectTimeout: opts.connectTimeout,
      connectionName: this.role === 'publish' ? opts.connectionName : `${opts.connectionName} (consumers)`
    })
    this.manager = manager

    manager.on('connect', ({ connection, url }) => {
      if (this.closed) return
      this.state = 'open'
      this.backoff.reset()
      this.brokerMax = undefined // a restarted broker may have another limit: learnt again if need be
      const where = redactUrl(String(typeof url === 'string' ? url : ''))
      if (this.connections++ === 0) log.info({ url: where }, 'amqp connected')
      else log.info({ url: where }, 'amqp reconnected; setting up channels, topology and consumers again')
      this.emit('connect', connection)
    })
    manager.on('disconnect', ({ err }) => {
      if (this.closed) return
      this.state = 'connecting'
      const wasBlocked = this.blockedReason !== undefined
      this.blockedReason = undefined
      const retryIn = this.scheduleRetry(manager)
      log.warn({ err: describeError(err), retryIn }, 'amqp connection lost; reconnecting')
      this.emit('disconnect', err)
      if (wasBlocked) this.emit('unblocked')
    })
    manager.on('blocked', ({ reason }) => {
      this.blockedReason = String(reason ?? 'unknown')
      log.warn({ reason }, 'amqp connection blocked by the broker (resource alarm): publishes wait')
      this.emit('blocked', this.blockedReason)
    })
    manager.on('unblocked', () => {
      this.blockedReason = undefined
      log.info({}, 'amqp connection unblocked: publishing resumes')
      this.emit('unblocked')
    })

    let lastError: Error | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        const finish = (err?: Error) => {
          clearTimeout(timer)
          manager.removeListener('connectFailed', onFailed)
          manager.removeListener('connect', onConnect)
          if (err) reject(err)
          else resolve()
        }
        const timer = setTimeout(() => {
          finish(lastError
            ? new FST_AMQP_CONNECT_TIMEOUT(this.displayUrl, opts.connectTimeout, lastError.message, { cause: lastError })
            : new FST_AMQP_CONNECT_TIMEOUT(this.displayUrl, opts.connectTimeout, 'no answer'))
        }, opts.connectTimeout)
        const onConnect = () => finish()
        const onFailed = ({ err, url }: { err: Error, url: unknown }) => {
          lastError = err
          const where = typeof url === 'string' ? redactUrl(url) : this.displayUrl
          const fatal = fatalConnectError(err, where)
          if (fatal) finish(fatal)
          else log.warn({ err: describeError(err), url: where, retryIn: this.scheduleRetry(manager) }, 'amqp connection attempt failed; retrying')
        }
        manager.on('connectFailed', onFailed)
        manager.on('connect', onConnect)
      })
    } catch (err) {
      // Report now; the manager may still be waiting on a connect attempt, so it closes in the background.
      this.close().catch(() => {})
      throw err
    }
    // Keep logging failed attempts after boot.
    manager.on('connectFailed', ({ err }) => {
      if (!this.closed) log.warn({ err: describeError(err), retryIn: this.scheduleRetry(manager) }, 'amqp reconnection attempt failed; retrying')
    })
  }

  /**
   * Closes the connection, waiting at most `wait` ms: amqp-connection-manager
   * first lets a connection attempt in progress (and the pause after a failed
   * one) run out, and a blocked broker never answers. What is left finishes
   * in the background. Safe to call twice: later calls wait for the first.
   */
  close (wait = 5000): Promise<void> {
    this.closing ??= this.shutdown(wait)
    return this.closing
  }

  private async shutdown (wait: number): Promise<void> {
    this.state = 'closing'
    try {
      await bounded(this.manager?.close().catch((err: Error) => this.log.debug({ err }, 'amqp connection close failed')), wait)
    } finally {
      this.state = 'closed'
      this.emit('closed')
    }
  }
}
