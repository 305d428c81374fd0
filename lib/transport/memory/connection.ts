import { EventEmitter } from 'node:events'
import type { BrokerConnection, MemoryBroker } from './broker'
import { MemoryChannel, type ChannelOwner } from './channel'
import { IllegalOperationError } from './errors'

/*
 * An amqplib-compatible ChannelModel on a memory broker. Closing it closes
 * its channels (their unacked messages go back, redelivered) and deletes its
 * exclusive queues. Losing it (broker.disconnectAll) does the same, but
 * emits 'error' and then 'close' with the error, as a dropped socket does.
 */

/** Options of `connectMemory`. */
export interface MemoryConnectOptions {
  /** Shown nowhere, kept for parity with amqplib's socket options. */
  clientProperties?: Record<string, unknown>
}

type ConnectionState = 'open' | 'closed'

/** An in-memory connection with amqplib's ChannelModel API. */
export class MemoryConnection extends EventEmitter implements BrokerConnection, ChannelOwner {
  /** What amqplib exposes of the underlying connection. */
  readonly connection = { frameMax: 131072, serverProperties: { product: 'RabbitMQ', version: '3.10.0' } }
  private state: ConnectionState = 'open'
  private readonly channels = new Set<MemoryChannel>()
  private nextChannel = 0

  /** @internal */
  constructor (private readonly broker: MemoryBroker, readonly clientProperties: Record<string, unknown>) {
    super()
    broker.connections.add(this)
  }

  /** @internal The owner of this connection's exclusive queues. */
  get owner (): object {
    return this
  }

  createChannel (): Promise<MemoryChannel> {
    return this.open(false)
  }

  createConfirmChannel (): Promise<MemoryChannel> {
    return this.open(true)
  }

  private open (confirm: boolean): Promise<MemoryChannel> {
    if (this.state !== 'open') return Promise.reject(new IllegalOperationError('Connection closed (by client)'))
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        if (this.state !== 'open') {
          reject(new IllegalOperationError('Connection closed (by client)'))
          return
        }
        const ch = new MemoryChannel(this.broker, this, ++this.nextChannel, confirm)
        this.channels.add(ch)
        resolve(ch)
      })
    })
  }

  /** @internal A channel closed. */
  forget (ch: MemoryChannel): void {
    this.channels.delete(ch)
  }

  /** Closes the connection; closing twice is fine. */
  close (): Promise<void> {
    if (this.state !== 'open') return Promise.resolve()
    return new Promise(resolve => {
      setImmediate(() => {
        if (this.shutDown()) this.emit('close')
        resolve()
      })
    })
  }

  /** @internal Deliveries on its channels not yet settled. */
  unackedCount (): number {
    let n = 0
    for (const ch of this.channels) n += ch.unackedCount
    return n
  }

  /** @internal Lost as a dropped socket: 'error' then 'close', both with `err`. */
  lose (err: Error): void {
    if (!this.shutDown()) return
    this.emit('error', err)
    this.emit('close', err)
  }

  /** Closes channels and removes exclusive queues; false if already closed. */
  private shutDown (): boolean {
    if (this.state !== 'open') return false
    this.state = 'closed'
    for (const ch of [...this.channels]) ch.closedWithConnection()
    this.channels.clear()
    for (const q of [...this.broker.queues.values()]) {
      if (q.decl.exclusive && q.decl.owner === this) this.broker.removeQueue(q)
    }
    this.broker.connections.delete(this)
    return true
  }
}

/** Opens a connection to the in-memory `broker`, as amqplib's connect() does to RabbitMQ. */
export async function connectMemory (broker: MemoryBroker, options: MemoryConnectOptions = {}): Promise<MemoryConnection> {
  await new Promise(resolve => setImmediate(resolve))
  return new MemoryConnection(broker, options.clientProperties ?? {})
}
