import type { MessageProperties } from './codec'
import type { DeathReason } from './dead-letter'

/*
 * One queue: its ready messages in order, its consumers served round-robin
 * within their prefetch, message TTL with real timers, max-length with its
 * overflow behaviour, and the hand-off of dead messages to the broker.
 *
 * Ordering follows RabbitMQ 3.x classic queues: every message keeps the
 * sequence number it was enqueued with, and a requeued one goes back to
 * that position (near the head), not to the tail. Expiry happens at the
 * head only: a message behind a longer-lived one waits for it.
 *
 * A priority queue (x-max-priority) is, in RabbitMQ, one such queue per
 * priority, served highest first; a priority above the maximum counts as
 * the maximum, none as 0. Here it is the same single array kept ordered by
 * (priority descending, seq ascending): requeue restores a message within
 * its priority, expiry still looks at the overall head only (RabbitMQ's
 * dropwhile stops at the first priority whose head is alive), and
 * max-length drop-head drops the overall head, which can be the message
 * just published when it outranks the rest (checked on RabbitMQ 3.10).
 *
 * A quorum queue (RabbitMQ 3.10) puts a message nacked or rejected with
 * requeue at its back, but returns what a closed channel held to the front,
 * in order.
 *
 * Consumers: round-robin among those with room under their prefetch, and,
 * with consumer priorities (x-priority), among the highest-priority ones
 * with room only. A single-active-consumer queue delivers to its oldest
 * consumer only; when it goes, the next oldest takes over: at once in a
 * quorum queue; in a classic queue, once the messages the cancelled one
 * still holds are settled (its channel closing settles them too).
 */

/** @internal A message held by a queue. */
export interface StoredMessage {
  /** Position in the queue; requeue restores it. */
  seq: number
  content: Buffer
  properties: MessageProperties
  exchange: string
  routingKey: string
  /** The routing key and CC keys, for x-death. */
  routingKeys: string[]
  redelivered: boolean
  /** When it expires (ms since the epoch), if it does. */
  expiresAt: number | undefined
  /** Where it ranks in a priority queue (its priority capped at x-max-priority); 0 elsewhere. */
  rank: number
  /** In a quorum queue, how often it came back (the x-delivery-count header); undefined elsewhere. */
  deliveryCount?: number
}

/** @internal What a queue delivers to: a consumer on some channel. */
export interface QueueConsumer {
  readonly tag: string
  readonly exclusive: boolean
  /** Its consumer priority (x-priority); 0 by default. */
  readonly priority: number
  /** Messages delivered to it and not settled. */
  readonly unacked: number
  /** Whether it can take another message now (prefetch). */
  hasRoom (): boolean
  /** Hands it a message; the consumer records it as unacked unless noAck. */
  deliver (msg: StoredMessage, queue: MemoryQueue): void
  /** The queue was deleted: amqplib calls the callback with null. */
  cancelledByBroker (): void
}

/** @internal What a queue needs from its broker. */
export interface QueueHost {
  deadLetter (queue: MemoryQueue, msg: StoredMessage, reason: DeathReason): void
  autoDeleted (queue: MemoryQueue): void
}

/** @internal How a queue was declared, after normalising the arguments. */
export interface QueueDeclaration {
  name: string
  durable: boolean
  exclusive: boolean
  autoDelete: boolean
  arguments: Record<string, unknown>
  /** The connection that owns an exclusive queue. */
  owner: object | undefined
}

/** @internal The parts of a queue's arguments it acts on. */
export interface QueuePolicy {
  messageTtl: number | undefined
  maxLength: number | undefined
  overflow: 'drop-head' | 'reject-publish' | 'reject-publish-dlx'
  /** A quorum queue: it counts returns (x-delivery-count) and honours x-delivery-limit. */
  quorum: boolean
  deliveryLimit: number | undefined
  /** x-single-active-consumer: only the oldest consumer receives. */
  singleActiveConsumer: boolean
  /** x-max-priority (at most 255), making it a priority queue; undefined for none. */
  maxPriority: number | undefined
}

/** @internal A queue of the in-memory broker. */
export class MemoryQueue {
  readonly messages: StoredMessage[] = []
  readonly consumers: QueueConsumer[] = []
  deleted = false
  private next = 0
  private hadConsumer = false
  /** How many consumers have a priority other than 0: none, and the turn is plain round-robin. */
  private prioritised = 0
  /** A classic queue's cancelled single active consumer, still holding unacked messages: nobody else receives meanwhile. */
  private holding: QueueConsumer | undefined
  private scheduled = false
  private timer: NodeJS.Timeout | undefined
  private timerAt = 0

  constructor (readonly decl: QueueDeclaration, readonly policy: QueuePolicy, private readonly host: QueueHost, private readonly nextSeq: () => number) {}

  get name (): string {
    return this.decl.name
  }

  /** Ready messages, after dropping the expired ones at the head. */
  get messageCount (): number {
    this.expireHead()
    return this.messages.length
  }

  /**
   * Adds a published message; false when x-overflow reject-publish refuses it
   * (and, for reject-publish-dlx, it has been dead-lettered).
   */
  enqueue (msg: Omit<StoredMessage, 'seq' | 'expiresAt' | 'redelivered' | 'rank'>, expiration: number | undefined): boolean {
    this.expireHead()
    const { maxLength, overflow } = this.policy
    const rank = this.rankOf(msg.properties.priority)
    const stored: StoredMessage = { ...msg, seq: this.nextSeq(), rank, redelivered: false, expiresAt: undefined, deliveryCount: this.policy.quorum ? 0 : undefined }
    if (maxLength !== undefined && overflow !== 'drop-head' && this.messages.length >= maxLength) {
      if (overflow === 'reject-publish-dlx') this.host.deadLetter(this, stored, 'rejected')
      return false
    }
    const ttl = minDefined(this.policy.messageTtl, expiration)
    if (ttl !== undefined) {
      // TTL 0: delivered at once to a consumer that can take it, else expired.
      stored.expiresAt = Date.now() + ttl
      if (ttl === 0 && !this.consumers.some(c => c.hasRoom())) {
        this.host.deadLetter(this, stored, 'expired')
        return true
      }
    }
    this.insert(stored)
    if (maxLength !== undefined) {
      while (this.messages.length > maxLength) this.host.deadLetter(this, this.messages.shift()!, 'maxlen')
    }
    this.changed()
    return true
  }

  /** Whether it is about to deliver, or holds a message waiting for its TTL. */
  get busy (): boolean {
    if (this.deleted) return false
    if (this.scheduled) return true
    if (this.messages.length === 0) return false
    return this.consumers.some((c) => c.hasRoom()) || this.messages.some((m) => m.expiresAt !== undefined)
  }

  /**
   * Puts messages back where they were, marked redelivered. `now`: hand
   * them out at once, as RabbitMQ does for a nack or reject with requeue
   * (each is redelivered as it is nacked, in that order).
   */
  requeue (msgs: StoredMessage[], now = false): void {
    if (this.deleted || msgs.length === 0) return
    for (const msg of msgs) {
      msg.redelivered = true
      // A quorum queue puts a nacked message at its back.
      if (now && this.policy.quorum) msg.seq = this.nextSeq()
      if (msg.deliveryCount !== undefined) {
        // A quorum queue counts each return, and gives up past x-delivery-limit.
        msg.deliveryCount++
        const limit = this.policy.deliveryLimit
        if (limit !== undefined && msg.deliveryCount > limit) {
          this.host.deadLetter(this, msg, 'delivery_limit')
          continue
        }
      }
      this.insert(msg)
    }
    if (now) this.dispatch()
    this.changed()
  }

  /** The rank a message with `priority` takes: 0 unless this is a priority queue. */
  private rankOf (priority: number | undefined): number {
    const max = this.policy.maxPriority
    if (max === undefined || priority === undefined) return 0
    return Math.min(priority, max)
  }

  /** Puts `msg` in its place: behind every message of higher rank, or of equal rank and lower seq. */
  private insert (msg: StoredMessage): void {
    let at = this.messages.length
    while (at > 0) {
      const before = this.messages[at - 1]
      if (before.rank > msg.rank || (before.rank === msg.rank && before.seq < msg.seq)) break
      at--
    }
    this.messages.splice(at, 0, msg)
  }

  /**
   * The head message for basic.get, or undefined. Like RabbitMQ, it drops
   * the expired messages that the fetch brings to the head before the
   * get-ok's message count is taken.
   */
  take (): StoredMessage | undefined {
    this.expireHead()
    const msg = this.messages.shift()
    this.expireHead()
    this.armTimer()
    return msg
  }

  /** Empties the queue; the number of messages removed. */
  purge (): number {
    const n = this.messageCount
    this.messages.length = 0
    this.armTimer()
    return n
  }

  addConsumer (consumer: QueueConsumer): void {
    this.consumers.push(consumer)
    if (consumer.priority !== 0) this.prioritised++
    this.hadConsumer = true
    this.changed()
  }

  /** Removes a consumer; an auto-delete queue goes when its last one does. */
  removeConsumer (consumer: QueueConsumer): void {
    const at = this.consumers.indexOf(consumer)
    if (at < 0) return
    this.consumers.splice(at, 1)
    if (consumer.priority !== 0) this.prioritised--
    if (this.next > at) this.next--
    // A single active consumer that goes hands over to the next oldest (a classic queue, once it holds nothing).
    if (at === 0 && this.policy.singleActiveConsumer) {
      if (!this.policy.quorum && consumer.unacked > 0) this.holding = consumer
      this.changed()
    }
    if (this.decl.autoDelete && this.hadConsumer && this.consumers.length === 0 && !this.deleted) this.host.autoDeleted(this)
  }

  /** `consumer` has settled every message it held: a cancelled single active consumer lets the next take over. */
  settledAll (consumer: QueueConsumer): void {
    if (this.holding !== consumer) return
    this.holding = undefined
    this.changed()
  }

  /** Marks the queue deleted: timers stop and its consumers are told. */
  destroy (): number {
    this.deleted = true
    if (this.timer) clearTimeout(this.timer)
    const n = this.messages.length
    this.messages.length = 0
    for (const c of this.consumers.splice(0)) c.cancelledByBroker()
    return n
  }

  /** Something changed (a message, a consumer, room under a prefetch): deliver soon. */
  changed (): void {
    this.armTimer()
    if (this.scheduled || this.deleted) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.dispatch()
    })
  }

  private dispatch (): void {
    while (!this.deleted) {
      this.expireHead()
      if (this.messages.length === 0) break
      const consumer = this.pickConsumer()
      if (!consumer) break
      const msg = this.messages.shift()!
      consumer.deliver(msg, this)
    }
    this.armTimer()
  }

  /**
   * The next consumer in turn with room, advancing the turn: the oldest
   * alone for a single active consumer; else, with consumer priorities,
   * the next in turn among the highest-priority ones with room.
   */
  private pickConsumer (): QueueConsumer | undefined {
    const n = this.consumers.length
    if (this.policy.singleActiveConsumer) {
      if (this.holding !== undefined) return undefined
      const active = this.consumers[0]
      return active?.hasRoom() ? active : undefined
    }
    let top: number | undefined
    if (this.prioritised > 0) {
      for (const c of this.consumers) if ((top === undefined || c.priority > top) && c.hasRoom()) top = c.priority
      if (top === undefined) return undefined
    }
    for (let i = 0; i < n; i++) {
      const at = (this.next + i) % n
      const c = this.consumers[at]
      if ((top === undefined || c.priority === top) && c.hasRoom()) {
        this.next = (at + 1) % n
        return c
      }
    }
    return undefined
  }

  private expireHead (): void {
    const now = Date.now()
    while (this.messages.length > 0) {
      const head = this.messages[0]
      if (head.expiresAt === undefined || head.expiresAt > now) break
      this.messages.shift()
      this.host.deadLetter(this, head, 'expired')
    }
  }

  /** A timer for when the head expires, so expiry happens without traffic. */
  private armTimer (): void {
    const at = this.messages[0]?.expiresAt
    if (at === undefined || this.deleted) {
      if (this.timer) clearTimeout(this.timer)
      this.timer = undefined
      return
    }
    if (this.timer && this.timerAt === at) return
    if (this.timer) clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.expireHead()
      this.armTimer()
    }, Math.max(0, at - Date.now()))
    this.timer.unref()
  }
}

function minDefined (a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return Math.min(a, b)
}
