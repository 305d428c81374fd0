import type { MessageProperties } from './codec'
import type { MemoryQueue, QueueConsumer, StoredMessage } from './queue'

/*
 * What a consumer sees, shaped exactly as amqplib's ConsumeMessage and
 * GetMessage, and the consumer a channel registers on a queue.
 */

/** A delivered message, as amqplib's ConsumeMessage. */
export interface MemoryMessage {
  content: Buffer
  fields: {
    consumerTag?: string
    deliveryTag: number
    redelivered: boolean
    exchange: string
    routingKey: string
    messageCount?: number
  }
  properties: MessageProperties
}

/** @internal The side of a channel its consumers need. */
export interface ConsumerHost {
  /** Records a delivery, returns its delivery tag. */
  track (msg: StoredMessage, queue: MemoryQueue, consumer: ChannelConsumer | undefined, noAck: boolean): number
  /** Whether the channel's global prefetch leaves room. */
  channelHasRoom (): boolean
  /** The broker cancelled a consumer (its queue was deleted). */
  cancelled (consumer: ChannelConsumer): void
}

/** @internal A message as amqplib hands it to a consume callback. */
export function consumeMessage (msg: StoredMessage, consumerTag: string, deliveryTag: number): MemoryMessage {
  return {
    content: msg.content,
    fields: { consumerTag, deliveryTag, redelivered: msg.redelivered, exchange: msg.exchange, routingKey: msg.routingKey },
    properties: deliveredProperties(msg)
  }
}

/** The properties as delivered: a quorum queue adds its x-delivery-count to the headers. */
function deliveredProperties (msg: StoredMessage): MessageProperties {
  if (msg.deliveryCount === undefined) return { ...msg.properties }
  return { ...msg.properties, headers: { ...msg.properties.headers, 'x-delivery-count': msg.deliveryCount } }
}

/** @internal A message as amqplib's get() resolves to it. */
export function getMessage (msg: StoredMessage, deliveryTag: number, messageCount: number): MemoryMessage {
  return {
    content: msg.content,
    fields: { deliveryTag, redelivered: msg.redelivered, exchange: msg.exchange, routingKey: msg.routingKey, messageCount },
    properties: deliveredProperties(msg)
  }
}

/** Rethrows a consumer callback's error outside the broker, as amqplib would surface it. */
function rethrowLater (err: unknown): void {
  setImmediate(() => { throw err })
}

/** @internal A basic.consume of one channel on one queue. */
export class ChannelConsumer implements QueueConsumer {
  /** Messages delivered and not yet settled. */
  unacked = 0
  active = true
  /**
   * Deliveries decided and not yet handed to the callback: a message is
   * given to a consumer at once (so the order is the broker's), and the
   * callback runs a moment later, never inside the caller's stack.
   */
  private outbox: Array<MemoryMessage | null> = []
  private flushing = false

  constructor (
    readonly tag: string,
    readonly queue: MemoryQueue,
    private readonly onMessage: (msg: MemoryMessage | null) => void,
    readonly noAck: boolean,
    readonly exclusive: boolean,
    /** basic.qos prefetch at the time of basic.consume; 0 for none. */
    readonly prefetch: number,
    private readonly host: ConsumerHost,
    /** Its consumer priority (x-priority). */
    readonly priority = 0
  ) {}

  hasRoom (): boolean {
    if (!this.active) return false
    if (this.noAck) return true
    return (this.prefetch === 0 || this.unacked < this.prefetch) && this.host.channelHasRoom()
  }

  deliver (msg: StoredMessage, queue: MemoryQueue): void {
    const deliveryTag = this.host.track(msg, queue, this, this.noAck)
    if (!this.noAck) this.unacked++
    this.send(consumeMessage(msg, this.tag, deliveryTag))
  }

  private send (msg: MemoryMessage | null): void {
    this.outbox.push(msg)
    if (this.flushing) return
    this.flushing = true
    queueMicrotask(() => this.flush())
  }

  private flush (): void {
    this.flushing = false
    const batch = this.outbox
    this.outbox = []
    for (const msg of batch) {
      // A channel that closed meanwhile delivers nothing more: its unacked went back to the queue.
      if (msg !== null && !this.active && !this.cancelledByServer) continue
      try {
        this.onMessage(msg)
      } catch (err) {
        rethrowLater(err)
      }
    }
  }

  /** Set when the broker cancelled it: what was already on its way still arrives, then null. */
  private cancelledByServer = false

  cancelledByBroker (): void {
    if (!this.active) return
    this.active = false
    this.cancelledByServer = true
    this.host.cancelled(this)
    this.send(null)
  }
}
