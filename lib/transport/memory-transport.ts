import { EventEmitter } from 'node:events'
import type { ChannelModel } from 'amqplib'
import type { ConnectionManager, ConnectOptions, Transport } from './transport'

/*
 * The in-memory broker behind the same seam as amqplib: a connection manager
 * that connects to it, tells of a lost connection (the broker's
 * disconnectAll(), as a test simulates an outage) and reconnects after the
 * core's wait. The broker itself (lib/transport/memory/) is loaded only here.
 */

/** What this file needs of the memory broker's module. */
interface MemoryModule {
  MemoryBroker: new () => object
  brokerNamed: (name: string) => object
  connectMemory: (broker: object, options: { clientProperties: Record<string, unknown> }) => Promise<ChannelModel>
}

function load (): MemoryModule {
  return require('./memory/index') as MemoryModule
}

/** @internal A connection to a memory broker, kept alive as amqp-connection-manager keeps one to RabbitMQ. */
class MemoryConnectionManager extends EventEmitter implements ConnectionManager {
  connection: ChannelModel | undefined
  reconnectTimeInSeconds: number
  private closing = false
  private timer: NodeJS.Timeout | undefined

  constructor (
    private readonly memory: MemoryModule,
    private readonly broker: object,
    private readonly url: string,
    private readonly options: ConnectOptions
  ) {
    super()
    this.reconnectTimeInSeconds = options.reconnectDelay / 1000
    // As with a socket, the first attempt happens after the caller has listened.
    setImmediate(() => this.attempt())
  }

  private attempt (): void {
    if (this.closing) return
    this.memory.connectMemory(this.broker, { clientProperties: { connection_name: this.options.connectionName } }).then((connection) => {
      if (this.closing) {
        connection.close().catch(() => {})
        return
      }
      this.connection = connection
      connection.on('error', () => {}) // the loss is told by 'close', below
      connection.once('close', (err?: Error) => this.lost(connection, err))
      this.emit('connect', { connection, url: this.url })
    }, (err: Error) => {
      if (this.closing) return
      this.emit('connectFailed', { err, url: this.url })
      this.retry()
    })
  }

  private lost (connection: ChannelModel, err: Error | undefined): void {
    if (this.connection !== connection) return
    this.connection = undefined
    if (this.closing) return
    this.emit('disconnect', { err: err ?? new Error('the memory broker closed the connection') })
    this.retry()
  }

  private retry (): void {
    this.timer = setTimeout(() => this.attempt(), this.reconnectTimeInSeconds * 1000)
  }

  async close (): Promise<void> {
    this.closing = true
    clearTimeout(this.timer)
    const { connection } = this
    this.connection = undefined
    if (connection !== undefined) await connection.close()
  }
}

/**
 * @internal
 * The memory broker for a memory:// URL: `memory://name` is the broker of
 * that name, shared by every app in the process that names it; `memory://`
 * is one of this transport's own, private to the plugin instance.
 */
export function memoryTransport (url: string): Transport {
  const memory = load()
  const name = new URL(url).hostname
  const broker = name === '' ? new memory.MemoryBroker() : memory.brokerNamed(name)
  return {
    connect: (options) => new MemoryConnectionManager(memory, broker, url, options)
  }
}
