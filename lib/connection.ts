import { EventEmitter } from 'node:events'
import { connect, type AmqpConnectionManager } from 'amqp-connection-manager'
import type { ChannelModel } from 'amqplib'
import {
  FST_AMQP_ACCESS_REFUSED,
  FST_AMQP_CLOSED,
  FST_AMQP_CONNECT_TIMEOUT,
  FST_AMQP_VHOST_NOT_ALLOWED
} from './errors'
import type { Log } from './log'
import { redactUrl, type NormalizedOptions } from './options'

type State = 'idle' | 'connecting' | 'open' | 'closing' | 'closed'

/** Errors that another attempt will not fix: fail the boot at once. */
function fatalConnectError (err: Error, url: string): Error | undefined {
  const text = err.message ?? ''
  if (/ACCESS[-_]REFUSED|\b403\b/.test(text)) return new FST_AMQP_ACCESS_REFUSED(url, text, { cause: err })
  // The broker answers connection.open, which carries only the virtual host, with
  // connection.close (530 NOT_ALLOWED); amqplib reports it without the reply text.
  if (/NOT[-_]ALLOWED|\b530\b|Expected ConnectionOpenOk; got <ConnectionClose/.test(text)) {
    return new FST_AMQP_VHOST_NOT_ALLOWED(url, 'it does not exist or the user may not open it', { cause: err })
  }
  return undefined
}

/**
 * @internal
 * One broker connection, kept alive by amqp-connection-manager.
 * Emits 'connect' (ChannelModel) after every (re)connection and 'disconnect'.
 */
export class Connection extends EventEmitter {
  private manager: AmqpConnectionManager | undefined
  private state: State = 'idle'
  private blockedReason: string | undefined
  private closing: Promise<void> | undefined
  private readonly displayUrl: string

  constructor (private readonly opts: NormalizedOptions, private readonly log: Log) {
    super()
    this.setMaxListeners(0)
    this.displayUrl = opts.urls.map(redactUrl).join(', ')
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

  /** Connects, resolving on the first connection and rejecting with a coded error on a fatal one or at connectTimeout. */
  async open (): Promise<void> {
    if (this.state !== 'idle') throw new FST_AMQP_CLOSED('open() called twice')
    this.state = 'connecting'
    const { opts, log } = this
    const manager = connect(opts.urls, {
      heartbeatIntervalInSeconds: opts.heartbeat,
      reconnectTimeInSeconds: opts.reconnectDelay / 1000,
      connectionOptions: {
        noDelay: true, // without it every request/reply pays Nagle's ~40 ms
        timeout: opts.connectTimeout,
        clientProperties: { connection_name: opts.connectionName }
      }
    })
    this.manager = manager

    manager.on('connect', ({ connection, url }) => {
      if (this.closed) return
      this.state = 'open'
      log.info({ url: redactUrl(String(typeof url === 'string' ? url : '')) }, 'amqp connected')
      this.emit('connect', connection)
    })
    manager.on('disconnect', ({ err }) => {
      if (this.closed) return
      this.state = 'connecting'
      this.blockedReason = undefined
      log.warn({ err }, 'amqp connection lost; reconnecting')
      this.emit('disconnect', err)
    })
    manager.on('blocked', ({ reason }) => {
      this.blockedReason = reason
      log.warn({ reason }, 'amqp connection blocked by the broker')
    })
    manager.on('unblocked', () => {
      this.blockedReason = undefined
      log.info({}, 'amqp connection unblocked')
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
          else log.warn({ err: { message: err.message, code: (err as any).code }, url: where }, 'amqp connection attempt failed; retrying')
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
      if (!this.closed) log.warn({ err: { message: err.message, code: (err as any).code } }, 'amqp reconnection attempt failed; retrying')
    })
  }

  /** Closes the connection. Safe to call twice: later calls wait for the first. */
  close (): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown (): Promise<void> {
    this.state = 'closing'
    try {
      await this.manager?.close()
    } catch (err) {
      this.log.debug({ err }, 'amqp connection close failed')
    } finally {
      this.state = 'closed'
      this.emit('closed')
    }
  }
}
