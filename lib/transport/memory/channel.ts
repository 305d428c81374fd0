import { EventEmitter } from 'node:events'
import { generatedName, type MemoryBroker } from './broker'
import { publishProperties, queueArguments, roundTrip } from './codec'
import { ChannelConsumer, getMessage, type ConsumerHost, type MemoryMessage } from './consumer'
import {
  ChannelFault, channelClosedError, IllegalOperationError, METHODS, operationFailedError, preconditionFailed, type Method
} from './errors'
import type { MemoryQueue, StoredMessage } from './queue'

/*
 * An amqplib-compatible Channel (and ConfirmChannel). Every operation reaches
 * the broker later (setImmediate), in call order, as frames would; a fault
 * closes only this channel: the operation rejects with amqplib's "Operation
 * failed" error, the channel emits 'error' ("Channel closed by server")
 * then 'close', and later calls fail with IllegalOperationError.
 */

/** The reply-to pseudo-queue of direct reply-to. */
const REPLY_TO = 'amq.rabbitmq.reply-to'

/** @internal What a channel needs from its connection. */
export interface ChannelOwner {
  /** Owns exclusive queues. */
  readonly owner: object
  forget (ch: MemoryChannel): void
}

interface Unacked {
  msg: StoredMessage
  queue: MemoryQueue
  consumer: ChannelConsumer | undefined
}

type Callback = (err: Error | null) => void

/** An in-memory channel with amqplib's promise API. */
export class MemoryChannel extends EventEmitter implements ConsumerHost {
  private open = true
  private closeError: Error | undefined
  private lastTag = 0
  private readonly unacked = new Map<number, Unacked>()
  private readonly consumers = new Map<string, ChannelConsumer>()
  private prefetchCount = 0
  private globalPrefetch = 0
  private replyAddress: string | undefined
  private replyTag: string | undefined
  private publishSeq = 0
  private readonly unconfirmed = new Map<number, Callback>()

  /** @internal */
  constructor (private readonly broker: MemoryBroker, private readonly conn: ChannelOwner, readonly ch: number, private readonly confirm: boolean) {
    super()
  }

  /** Runs `fn` at the broker after earlier operations; a ChannelFault closes the channel. */
  private rpc<T> (method: Method, fn: () => T): Promise<T> {
    if (!this.open) return Promise.reject(new IllegalOperationError('Channel closed'))
    return new Promise<T>((resolve, reject) => {
      this.broker.later(() => {
        if (!this.open) {
          reject(this.closeError ?? new Error('Channel ended, no reply will be forthcoming'))
          return
        }
        try {
          resolve(fn())
        } catch (err) {
          if (!(err instanceof ChannelFault)) {
            reject(err)
            return
          }
          reject(operationFailedError(err, method))
          this.fail(err, method)
        }
      })
    })
  }

  /** A method without a reply (publish, ack…): throws at once on a closed channel. */
  private send (method: Method, fn: () => void): void {
    if (!this.open) throw new IllegalOperationError('Channel closed')
    this.broker.later(() => {
      if (!this.open) return
      try {
        fn()
      } catch (err) {
        if (err instanceof ChannelFault) this.fail(err, method)
        else throw err
      }
    })
  }

  /** The broker closes this channel for `fault`. */
  private fail (fault: ChannelFault, method: Method): void {
    if (!this.open) return
    this.closeError = channelClosedError(fault, method)
    this.teardown()
    this.emit('error', this.closeError)
    this.emit('close')
  }

  /** Closes this channel: consumers go, unacked messages return to their queues, confirms fail. */
  private teardown (): void {
    this.open = false
    for (const c of this.consumers.values()) {
      c.active = false
      c.queue.removeConsumer(c)
    }
    this.consumers.clear()
    this.stopReplyConsumer()
    this.requeue([...this.unacked.keys()])
    const lost = new Error('channel closed')
    for (const cb of this.unconfirmed.values()) cb(lost)
    this.unconfirmed.clear()
    this.conn.forget(this)
  }

  /** @internal The connection closes or is lost: close without an error. */
  closedWithConnection (): void {
    if (!this.open) return
    this.teardown()
    this.emit('close')
  }

  /** Closes the channel; closing twice is fine. */
  close (): Promise<void> {
    if (!this.open) return Promise.resolve()
    return new Promise(resolve => {
      setImmediate(() => {
        this.closedWithConnection()
        resolve()
      })
    })
  }

  // ---- topology ----

  assertExchange (exchange: string, type: string, options?: Record<string, unknown>): Promise<{ exchange: string }> {
    const o = options ?? {}
    const args = roundTrip(o.arguments)
    if (o.alternateExchange !== undefined) args['alternate-exchange'] = o.alternateExchange
    return this.rpc(METHODS.exchangeDeclare, () => {
      this.broker.declareExchange(exchange, type, { durable: o.durable !== false, autoDelete: !!o.autoDelete, internal: !!o.internal, arguments: args }, false)
      return { exchange }
    })
  }

  checkExchange (exchange: string): Promise<Record<string, never>> {
    return this.rpc(METHODS.exchangeDeclare, () => {
      this.broker.declareExchange(exchange, '', { durable: false, autoDelete: false, internal: false, arguments: {} }, true)
      return {}
    })
  }

  deleteExchange (exchange: string, options?: { ifUnused?: boolean }): Promise<Record<string, never>> {
    return this.rpc(METHODS.exchangeDelete, () => {
      this.broker.deleteExchange(exchange, !!options?.ifUnused)
      return {}
    })
  }

  assertQueue (queue?: string, options?: Record<string, unknown>): Promise<{ queue: string, messageCount: number, consumerCount: number }> {
    const o = options ?? {}
    const args = queueArguments(o)
    return this.rpc(METHODS.queueDeclare, () => {
      const q = this.broker.declareQueue({
        name: queue ?? '',
        durable: o.durable !== false,
        exclusive: !!o.exclusive,
        autoDelete: !!o.autoDelete,
        arguments: args,
        owner: this.conn.owner
      }, false)
      return { queue: q.name, messageCount: q.messageCount, consumerCount: q.consumers.length }
    })
  }

  checkQueue (queue: string): Promise<{ queue: string, messageCount: number, consumerCount: number }> {
    return this.rpc(METHODS.queueDeclare, () => {
      const q = this.broker.queueFor(queue, this.conn.owner)
      return { queue: q.name, messageCount: q.messageCount, consumerCount: q.consumers.length }
    })
  }

  deleteQueue (queue: string, options?: { ifUnused?: boolean, ifEmpty?: boolean }): Promise<{ messageCount: number }> {
    return this.rpc(METHODS.queueDelete, () => ({ messageCount: this.broker.deleteQueue(queue, this.conn.owner, options) }))
  }

  purgeQueue (queue: string): Promise<{ messageCount: number }> {
    return this.rpc(METHODS.queuePurge, () => ({ messageCount: this.broker.queueFor(queue, this.conn.owner).purge() }))
  }

  bindQueue (queue: string, source: string, pattern: string, args?: Record<string, unknown>): Promise<Record<string, never>> {
    return this.rpc(METHODS.queueBind, () => {
      this.broker.bind({ destination: queue, toExchange: false, pattern, args: roundTrip(args) }, source, this.conn.owner)
      return {}
    })
  }

  unbindQueue (queue: string, source: string, pattern: string, args?: Record<string, unknown>): Promise<Record<string, never>> {
    return this.rpc(METHODS.queueUnbind, () => {
      this.broker.unbind({ destination: queue, toExchange: false, pattern, args: roundTrip(args) }, source, this.conn.owner)
      return {}
    })
  }

  bindExchange (destination: string, source: string, pattern: string, args?: Record<string, unknown>): Promise<Record<string, never>> {
    return this.rpc(METHODS.exchangeBind, () => {
      this.broker.bind({ destination, toExchange: true, pattern, args: roundTrip(args) }, source, this.conn.owner)
      return {}
    })
  }

  unbindExchange (destination: string, source: string, pattern: string, args?: Record<string, unknown>): Promise<Record<string, never>> {
    return this.rpc(METHODS.exchangeUnbind, () => {
      this.broker.unbind({ destination, toExchange: true, pattern, args: roundTrip(args) }, source, this.conn.owner)
      return {}
    })
  }

  // ---- publishing ----

  /** basic.publish; returns true (no flow control in memory). */
  publish (exchange: string, routingKey: string, content: Buffer, options?: Record<string, unknown>, callback?: Callback): boolean {
    if (!this.open) throw new IllegalOperationError('Channel closed')
    if (!Buffer.isBuffer(content)) throw new TypeError('content is not a buffer')
    const properties = publishProperties(options)
    const cc = properties.headers.CC
    const bcc = properties.headers.BCC
    delete properties.headers.BCC
    const routingKeys = [routingKey, ...(Array.isArray(cc) ? cc.map(String) : [])]
    const keys = [...routingKeys, ...(Array.isArray(bcc) ? bcc.map(String) : [])]
    const seq = this.confirm ? ++this.publishSeq : 0
    if (this.confirm) this.unconfirmed.set(seq, callback ?? (() => {}))
    this.send(METHODS.basicPublish, () => {
      if (properties.replyTo === REPLY_TO) {
        if (this.replyAddress === undefined) throw preconditionFailed('fast reply consumer does not exist')
        properties.replyTo = this.replyAddress
      }
      const outcome = this.broker.publish(exchange, keys, routingKeys, content, properties)
      if (!outcome.routed && options?.mandatory) {
        this.emit('return', { fields: { replyCode: 312, replyText: 'NO_ROUTE', exchange, routingKey }, properties: { ...properties }, content })
      }
      if (this.confirm) {
        const cb = this.unconfirmed.get(seq)
        this.unconfirmed.delete(seq)
        // Like amqplib: the callback first, then the event the broker's basic.ack or basic.nack makes.
        cb?.(outcome.refused ? new Error('message nacked') : null)
        if (outcome.refused) this.emit('nack', { deliveryTag: seq, multiple: false, requeue: false })
        else this.emit('ack', { deliveryTag: seq, multiple: false })
      }
    })
    return true
  }

  sendToQueue (queue: string, content: Buffer, options?: Record<string, unknown>, callback?: Callback): boolean {
    return this.publish('', queue, content, options, callback)
  }

  /** Resolves when every publish so far is confirmed; rejects if one was nacked or lost. */
  waitForConfirms (): Promise<void> {
    const waits: Array<Promise<void>> = []
    for (const [seq, cb] of this.unconfirmed) {
      waits.push(new Promise((resolve, reject) => {
        this.unconfirmed.set(seq, (err) => {
          cb(err)
          if (err === null) resolve()
          else reject(err)
        })
      }))
    }
    return Promise.all(waits).then(() => undefined)
  }

  // ---- consuming ----

  /** basic.qos: applies to consumers started later (or, with `global`, to the channel). */
  prefetch (count: number, global = false): Promise<Record<string, never>> {
    return this.rpc(METHODS.basicQos, () => {
      if (global) this.globalPrefetch = count
      else this.prefetchCount = count
      return {}
    })
  }

  consume (queue: string, onMessage: (msg: MemoryMessage | null) => void, options?: Record<string, unknown>): Promise<{ consumerTag: string }> {
    const f = options ?? {}
    return this.rpc(METHODS.basicConsume, () => {
      const tag = typeof f.consumerTag === 'string' && f.consumerTag !== '' ? f.consumerTag : generatedName('amq.ctag-')
      if (queue === REPLY_TO) {
        if (!f.noAck) throw preconditionFailed('reply consumer cannot acknowledge')
        this.startReplyConsumer(tag, onMessage)
        return { consumerTag: tag }
      }
      const q = this.broker.queueFor(queue, this.conn.owner)
      if (q.consumers.some(c => c.exclusive) || (f.exclusive && q.consumers.length > 0)) {
        throw new ChannelFault(403, `ACCESS_REFUSED - queue '${queue}' in vhost '/' in exclusive use`)
      }
      const args = roundTrip(f.arguments)
      // amqplib's `priority` option is the x-priority argument.
      const priority = f.priority ?? args['x-priority']
      const consumer = new ChannelConsumer(tag, q, onMessage, !!f.noAck, !!f.exclusive, this.prefetchCount, this, typeof priority === 'number' && Number.isInteger(priority) ? priority : 0)
      this.consumers.set(tag, consumer)
      q.addConsumer(consumer)
      return { consumerTag: tag }
    })
  }

  cancel (consumerTag: string): Promise<{ consumerTag: string }> {
    return this.rpc(METHODS.basicCancel, () => {
      if (consumerTag === this.replyTag) this.stopReplyConsumer()
      const c = this.consumers.get(consumerTag)
      if (c) {
        this.consumers.delete(consumerTag)
        c.active = false
        c.queue.removeConsumer(c)
      }
      return { consumerTag }
    })
  }

  get (queue: string, options?: Record<string, unknown>): Promise<MemoryMessage | false> {
    const f = options ?? {}
    return this.rpc(METHODS.basicGet, () => {
      const q = this.broker.queueFor(queue, this.conn.owner)
      const msg = q.take()
      if (!msg) return false
      const tag = this.track(msg, q, undefined, !!f.noAck)
      return getMessage(msg, tag, q.messages.length)
    })
  }

  private startReplyConsumer (tag: string, onMessage: (msg: MemoryMessage | null) => void): void {
    this.stopReplyConsumer()
    const address = generatedName(`${REPLY_TO}.`)
    this.replyAddress = address
    this.replyTag = tag
    this.broker.replyTargets.set(address, (msg) => {
      setImmediate(() => {
        if (this.replyAddress !== address) return
        const deliveryTag = ++this.lastTag
        onMessage({
          content: msg.content,
          fields: { consumerTag: tag, deliveryTag, redelivered: false, exchange: msg.exchange, routingKey: msg.routingKey },
          properties: { ...msg.properties }
        })
      })
    })
  }

  private stopReplyConsumer (): void {
    if (this.replyAddress !== undefined) this.broker.replyTargets.delete(this.replyAddress)
    this.replyAddress = undefined
    this.replyTag = undefined
  }

  // ---- settling ----

  ack (message: MemoryMessage, allUpTo = false): void {
    this.settle(METHODS.basicAck, message.fields.deliveryTag, allUpTo, 'ack')
  }

  nack (message: MemoryMessage, allUpTo = false, requeue = true): void {
    this.settle(METHODS.basicNack, message.fields.deliveryTag, allUpTo, requeue ? 'requeue' : 'drop')
  }

  reject (message: MemoryMessage, requeue = true): void {
    this.settle(METHODS.basicReject, message.fields.deliveryTag, false, requeue ? 'requeue' : 'drop')
  }

  ackAll (): void {
    this.settle(METHODS.basicAck, 0, true, 'ack')
  }

  nackAll (requeue = true): void {
    this.settle(METHODS.basicNack, 0, true, requeue ? 'requeue' : 'drop')
  }

  private settle (method: Method, deliveryTag: number, allUpTo: boolean, how: 'ack' | 'requeue' | 'drop'): void {
    this.send(method, () => {
      let tags: number[]
      if (allUpTo) {
        tags = [...this.unacked.keys()].filter(t => deliveryTag === 0 || t <= deliveryTag)
        if (deliveryTag !== 0 && !this.unacked.has(deliveryTag)) throw preconditionFailed(`unknown delivery tag ${deliveryTag}`)
      } else {
        if (!this.unacked.has(deliveryTag)) throw preconditionFailed(`unknown delivery tag ${deliveryTag}`)
        tags = [deliveryTag]
      }
      if (how === 'requeue') {
        this.requeue(tags, true)
        return
      }
      for (const tag of tags) {
        const u = this.release(tag)
        if (how === 'drop' && !u.queue.deleted) this.broker.deadLetter(u.queue, u.msg, 'rejected')
      }
    })
  }

  /** Removes an unacked delivery and frees its consumer's room. */
  private release (tag: number): Unacked {
    const u = this.unacked.get(tag)!
    this.unacked.delete(tag)
    if (u.consumer && --u.consumer.unacked === 0) u.queue.settledAll(u.consumer)
    if (this.globalPrefetch > 0) for (const c of this.consumers.values()) c.queue.changed()
    else if (u.consumer?.active) u.queue.changed()
    return u
  }

  private requeue (tags: number[], now = false): void {
    const byQueue = new Map<MemoryQueue, StoredMessage[]>()
    for (const tag of tags) {
      const u = this.release(tag)
      const list = byQueue.get(u.queue) ?? []
      list.push(u.msg)
      byQueue.set(u.queue, list)
    }
    for (const [q, msgs] of byQueue) q.requeue(msgs, now)
  }

  // ---- ConsumerHost ----

  /** @internal */
  /** @internal Deliveries not yet acked, nacked or rejected. */
  get unackedCount (): number {
    return this.unacked.size
  }

  /** @internal */
  track (msg: StoredMessage, queue: MemoryQueue, consumer: ChannelConsumer | undefined, noAck: boolean): number {
    const tag = ++this.lastTag
    if (!noAck) this.unacked.set(tag, { msg, queue, consumer })
    return tag
  }

  /** @internal */
  channelHasRoom (): boolean {
    if (this.globalPrefetch === 0) return true
    let n = 0
    for (const u of this.unacked.values()) if (u.consumer) n++
    return n < this.globalPrefetch
  }

  /** @internal */
  cancelled (consumer: ChannelConsumer): void {
    if (this.consumers.get(consumer.tag) === consumer) this.consumers.delete(consumer.tag)
    this.emit('cancel', { consumerTag: consumer.tag })
  }
}
