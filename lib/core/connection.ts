import { EventEmitter } from 'node:events'
import type { ChannelModel } from 'amqplib'
import type { ConnectionManager, Transport } from '../transport/transport'
import { Backoff } from './backoff'
import { fatalConnectError, tlsSetupError } from './broker-errors'
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

  /**
   * Connects, resolving on the first connection. Rejects with a coded error
   * at connectTimeout, or as soon as every URL has failed with an error that
   * another attempt will not fix (fatalConnectError: credentials, vhost, TLS,
   * a host that does not exist): with one URL, at its first such failure.
   */
  async open (): Promise<void> {
    if (this.state !== 'idle') throw new FST_AMQP_CLOSED('open() called twice')
    this.state = 'connecting'
    const { opts, log } = this
    let manager: ConnectionManager
    try {
      manager = this.transport.connect({
        heartbeat: opts.heartbeat,
        reconnectDelay: opts.reconnectDelay,
        connectTimeout: opts.connectTimeout,
        connectionName: this.role === 'publish' ? opts.connectionName : `${opts.connectionName} (consumers)`,
        ...(opts.tls === undefined ? {} : { tls: opts.tls }),
        auth: opts.auth,
        coalesceWrites: opts.coalesceWrites,
        warn: (fields, message) => log.warn(fields, message)
      })
    } catch (err) {
      this.state = 'closed'
      // Only the TLS key, certificate or pfx is read before the first attempt.
      throw opts.tls === undefined ? err : tlsSetupError(err, this.displayUrl)
    }
    this.manager = manager
    if (opts.tls?.rejectUnauthorized === false && this.role === 'publish') {
      log.warn({}, 'amqp tls.rejectUnauthorized is false: the broker\'s certificate is not checked, so anyone on the way can read the traffic, the password included')
    }

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
    // The URLs whose last attempt failed for good (manager rotates through the list,
    // and names in connectFailed the URL it tried, as given).
    const failedForGood = new Set<string>()
    const distinctUrls = new Set(opts.urls).size
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
          // No pause after an attempt that ends while closing: close() waits for it.
          if (this.closed) {
            manager.reconnectTimeInSeconds = 0
            return
          }
          lastError = err
          const where = typeof url === 'string' ? redactUrl(url) : this.displayUrl
          const fatal = fatalConnectError(err, where)
          if (fatal === undefined) {
            if (typeof url === 'string') failedForGood.delete(url)
            log.warn({ err: describeError(err), url: where, retryIn: this.scheduleRetry(manager) }, 'amqp connection attempt failed; retrying')
            return
          }
          if (typeof url === 'string') failedForGood.add(url)
          // Either way no pause: boot fails now (and close() need not wait), or another URL may answer.
          manager.reconnectTimeInSeconds = 0
          if (failedForGood.size >= distinctUrls || typeof url !== 'string') return finish(fatal)
          log.warn({ err: describeError(fatal), url: where, retryIn: 0 }, 'amqp connection attempt failed for good on this URL; trying the next one')
        }
        manager.on('connectFailed', onFailed)
        manager.on('connect', onConnect)
      })
    } catch (err) {
      // Report now; the manager may still be waiting on a connect attempt, so it closes in the background.
      this.close().catch(() => {})
      throw err
    }
    // After boot nothing is fatal (a certificate may be renewed, a DNS name come
    // back): keep trying, logging what would have failed boot as an error.
    manager.on('connectFailed', ({ err, url }) => {
      if (this.closed) return
      const where = typeof url === 'string' ? redactUrl(url) : this.displayUrl
      const fatal = fatalConnectError(err, where)
      const retryIn = this.scheduleRetry(manager)
      if (fatal) log.error({ err: describeError(fatal), url: where, retryIn }, 'amqp reconnection attempt failed, and will until the broker or this service is fixed; retrying')
      else log.warn({ err: describeError(err), url: where, retryIn }, 'amqp reconnection attempt failed; retrying')
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
