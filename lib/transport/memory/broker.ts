import { randomBytes } from 'node:crypto'
import { copyProperties, intArg, type MessageProperties } from './codec'
import { deadLetterProperties, isDeadLetterCycle, type DeathReason } from './dead-letter'
import { ChannelFault, noExchange, noQueue, preconditionFailed } from './errors'
import { builtinExchanges, routeFrom, sameBinding, type Binding, type MemoryExchange } from './exchanges'
import { checkNewQueue, compareExchange, compareQueue, policyOf } from './declare'
import { MemoryQueue, type QueueDeclaration, type QueueHost, type StoredMessage } from './queue'
import { isExchangeType } from './routing'

/*
 * The broker: one virtual host ('/') of exchanges, queues and bindings, the
 * connections open on it, and the direct reply-to addresses of their
 * channels. Every method that can fail throws a ChannelFault with
 * RabbitMQ's reply code and text; the channel turns it into a channel close.
 */

/** Options of a memory broker. */
export interface MemoryBrokerOptions {
  /**
   * The largest message body accepted, in bytes, as RabbitMQ's max_message_size.
   * @default 134217728 (128 MiB)
   */
  maxMessageSize?: number
}

/** @internal A connection as the broker sees it, so it can drop them all. */
export interface BrokerConnection {
  lose (err: Error): void
  /** Deliveries on its channels not yet settled. */
  unackedCount (): number
}

/** @internal Delivers to a direct reply-to consumer. */
export type ReplyTarget = (msg: StoredMessage) => void

/** @internal What a publish did. */
export interface PublishOutcome {
  /** Whether any queue (or reply-to consumer) took it. */
  routed: boolean
  /** Whether a queue refused it (x-overflow reject-publish): the confirm is a nack. */
  refused: boolean
}

/** @internal A fresh name as RabbitMQ makes them: `prefix` and 22 random characters. */
export function generatedName (prefix: string): string {
  return prefix + randomBytes(16).toString('base64url')
}

/** The RabbitMQ default for max_message_size, 128 MiB. */
const DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024

/**
 * An in-memory RabbitMQ: connect to it with `connectMemory(broker)`. Use
 * `new MemoryBroker()` for a private one or `brokerNamed(name)` for one shared
 * by name within the process.
 */
export class MemoryBroker implements QueueHost {
  /** @internal */
  readonly maxMessageSize: number
  /** @internal */
  readonly exchanges = new Map<string, MemoryExchange>()
  /** @internal */
  readonly queues = new Map<string, MemoryQueue>()
  /** @internal */
  readonly connections = new Set<BrokerConnection>()
  /** @internal */
  readonly replyTargets = new Map<string, ReplyTarget>()
  private seq = 0
  /** Operations scheduled and not yet run (channel methods on their way to the broker). */
  private pending = 0

  constructor (options: MemoryBrokerOptions = {}) {
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE
    for (const ex of builtinExchanges()) this.exchanges.set(ex.name, ex)
  }

  /** @internal Runs `fn` on a later turn, as a method arrives over the wire, counting it as pending meanwhile. */
  later (fn: () => void): void {
    this.pending++
    setImmediate(() => {
      this.pending--
      fn()
    })
  }

  /**
   * Whether nothing is on its way: no method pending, no delivery unsettled,
   * no queue about to deliver, and no message waiting for its TTL (a retry in
   * a wait queue is still on its way). Messages in a queue nobody consumes
   * are at rest.
   */
  idle (): boolean {
    if (this.pending > 0) return false
    for (const conn of this.connections) if (conn.unackedCount() > 0) return false
    for (const q of this.queues.values()) if (q.busy) return false
    return true
  }

  /**
   * Drops every connection as a lost socket would: each emits 'error' and
   * 'close' with `err`, their unacked messages return to their queues
   * (redelivered) and their exclusive queues are deleted.
   */
  disconnectAll (err: Error = new Error('Socket closed abruptly')): void {
    for (const conn of [...this.connections]) conn.lose(err)
  }

  /** @internal exchange.declare; `passive` only checks it exists. */
  declareExchange (name: string, type: string, opts: { durable: boolean, autoDelete: boolean, internal: boolean, arguments: Record<string, unknown> }, passive: boolean): void {
    const existing = this.exchanges.get(name)
    if (passive) {
      if (!existing) throw noExchange(name)
      return
    }
    if (name === '') throw new ChannelFault(403, 'ACCESS_REFUSED - operation not permitted on the default exchange')
    if (!isExchangeType(type)) throw new ChannelFault(503, `COMMAND_INVALID - unknown exchange type '${type}'`)
    // Redeclaring amq.direct as it is succeeds; only new amq.* names are refused.
    if (existing) {
      compareExchange(existing, type, opts)
      return
    }
    if (name.startsWith('amq.')) throw new ChannelFault(403, `ACCESS_REFUSED - exchange name '${name}' contains reserved prefix 'amq.*'`)
    this.exchanges.set(name, { name, type, durable: opts.durable, autoDelete: opts.autoDelete, internal: opts.internal, args: opts.arguments, bindings: [] })
  }

  /** @internal exchange.delete; deleting a missing exchange succeeds. */
  deleteExchange (name: string, ifUnused: boolean): void {
    if (name === '' || name.startsWith('amq.')) throw new ChannelFault(403, name === '' ? 'ACCESS_REFUSED - operation not permitted on the default exchange' : `ACCESS_REFUSED - exchange name '${name}' contains reserved prefix 'amq.*'`)
    const ex = this.exchanges.get(name)
    if (!ex) return
    if (ifUnused && ex.bindings.length > 0) throw preconditionFailed(`exchange '${name}' in vhost '/' in use`)
    this.exchanges.delete(name)
    this.unbindEverywhere(name, true)
  }

  /** @internal The queue `name`, if `owner` may use it; throws 404 or 405. */
  queueFor (name: string, owner: object): MemoryQueue {
    const q = this.queues.get(name)
    if (!q) throw noQueue(name)
    if (q.decl.exclusive && q.decl.owner !== owner) throw lockedQueue(name)
    return q
  }

  /** @internal queue.declare; a name of '' gets a server name. */
  declareQueue (decl: QueueDeclaration, passive: boolean): MemoryQueue {
    if (passive) return this.queueFor(decl.name, decl.owner!)
    if (decl.name === '') decl.name = generatedName('amq.gen-')
    else if (decl.name.startsWith('amq.')) throw new ChannelFault(403, `ACCESS_REFUSED - queue name '${decl.name}' contains reserved prefix 'amq.*'`)
    const existing = this.queues.get(decl.name)
    if (existing) {
      if (existing.decl.exclusive !== decl.exclusive || (existing.decl.exclusive && existing.decl.owner !== decl.owner)) throw lockedQueue(decl.name)
      compareQueue(existing.decl, decl)
      return existing
    }
    checkNewQueue(decl)
    const q = new MemoryQueue(decl, policyOf(decl.arguments), this, () => ++this.seq)
    this.queues.set(decl.name, q)
    return q
  }

  /** @internal queue.delete: the number of messages it held; a missing queue gives 0. */
  deleteQueue (name: string, owner: object, opts: { ifUnused?: boolean, ifEmpty?: boolean } = {}): number {
    if (!this.queues.has(name)) return 0
    const q = this.queueFor(name, owner)
    if (opts.ifUnused && q.consumers.length > 0) throw preconditionFailed(`queue '${name}' in vhost '/' in use`)
    if (opts.ifEmpty && q.messageCount > 0) throw preconditionFailed(`queue '${name}' in vhost '/' is not empty`)
    return this.removeQueue(q)
  }

  /** @internal Deletes a queue and its bindings. */
  removeQueue (q: MemoryQueue): number {
    if (this.queues.get(q.name) !== q) return 0
    this.queues.delete(q.name)
    this.unbindEverywhere(q.name, false)
    return q.destroy()
  }

  /** @internal An auto-delete queue lost its last consumer. */
  autoDeleted (q: MemoryQueue): void {
    this.removeQueue(q)
  }

  /** @internal queue.bind / exchange.bind. */
  bind (binding: Binding, source: string, owner: object): void {
    if (source === '') throw new ChannelFault(403, 'ACCESS_REFUSED - operation not permitted on the default exchange')
    if (binding.toExchange) {
      if (!this.exchanges.has(binding.destination)) throw noExchange(binding.destination)
    } else {
      this.queueFor(binding.destination, owner)
    }
    const ex = this.exchanges.get(source)
    if (!ex) throw noExchange(source)
    if (!ex.bindings.some(b => sameBinding(b, binding))) ex.bindings.push(binding)
  }

  /** @internal queue.unbind / exchange.unbind; a missing binding is fine. */
  unbind (binding: Binding, source: string, owner: object): void {
    if (source === '') throw new ChannelFault(403, 'ACCESS_REFUSED - operation not permitted on the default exchange')
    if (!binding.toExchange) this.queueFor(binding.destination, owner)
    const ex = this.exchanges.get(source)
    if (!ex) throw noExchange(source)
    const at = ex.bindings.findIndex(b => sameBinding(b, binding))
    if (at >= 0) {
      ex.bindings.splice(at, 1)
      this.maybeAutoDelete(ex)
    }
  }

  private unbindEverywhere (destination: string, toExchange: boolean): void {
    for (const ex of [...this.exchanges.values()]) {
      const before = ex.bindings.length
      ex.bindings = ex.bindings.filter(b => b.destination !== destination || b.toExchange !== toExchange)
      if (ex.bindings.length !== before) this.maybeAutoDelete(ex)
    }
  }

  private maybeAutoDelete (ex: MemoryExchange): void {
    if (ex.autoDelete && ex.bindings.length === 0 && this.exchanges.get(ex.name) === ex) {
      this.exchanges.delete(ex.name)
      this.unbindEverywhere(ex.name, true)
    }
  }

  /**
   * @internal
   * basic.publish after the channel's checks: routes `keys` (the routing key
   * then CC and BCC) through `exchange` and enqueues a copy on each queue.
   */
  publish (exchange: string, keys: string[], routingKeys: string[], content: Buffer, properties: MessageProperties): PublishOutcome {
    if (content.length > this.maxMessageSize) {
      throw preconditionFailed(`message size ${content.length} is larger than configured max size ${this.maxMessageSize}`)
    }
    const ex = this.exchanges.get(exchange)
    if (!ex) throw noExchange(exchange)
    if (ex.internal) throw new ChannelFault(403, `ACCESS_REFUSED - cannot publish to internal exchange '${exchange}' in vhost '/'`)
    const routingKey = keys[0]
    if (exchange === '' && routingKey.startsWith('amq.rabbitmq.reply-to.')) {
      const target = this.replyTargets.get(routingKey)
      if (!target) return { routed: false, refused: false }
      target({ seq: 0, rank: 0, content, properties, exchange, routingKey, routingKeys, redelivered: false, expiresAt: undefined })
      return { routed: true, refused: false }
    }
    const targets = routeFrom(ex, keys, properties.headers, n => this.exchanges.get(n), n => this.queues.has(n))
    const expiration = intArg(properties.expiration)
    let refused = false
    let first = true
    for (const name of targets) {
      const q = this.queues.get(name)!
      const props = first ? properties : copyProperties(properties)
      first = false
      if (!q.enqueue({ content, properties: props, exchange, routingKey, routingKeys }, expiration)) refused = true
    }
    return { routed: targets.size > 0, refused }
  }

  /** @internal Dead-letters `msg` from `queue` if the queue has a dead-letter exchange. */
  deadLetter (queue: MemoryQueue, msg: StoredMessage, reason: DeathReason): void {
    const dlx = queue.decl.arguments['x-dead-letter-exchange']
    if (typeof dlx !== 'string') return
    const ex = this.exchanges.get(dlx)
    if (!ex) return
    const dlrk = queue.decl.arguments['x-dead-letter-routing-key']
    const properties = deadLetterProperties(msg, queue.name, reason, Date.now())
    const keys = typeof dlrk === 'string' ? [dlrk] : msg.routingKeys
    const targets = routeFrom(ex, keys, properties.headers, n => this.exchanges.get(n), n => this.queues.has(n))
    for (const name of targets) {
      if (isDeadLetterCycle(properties, name)) continue
      const q = this.queues.get(name)!
      q.enqueue({ content: msg.content, properties: copyProperties(properties), exchange: dlx, routingKey: keys[0], routingKeys: keys }, undefined)
    }
  }
}

/** @internal 405 RESOURCE_LOCKED for an exclusive queue of another connection. */
function lockedQueue (name: string): ChannelFault {
  return new ChannelFault(405, `RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${name}' in vhost '/'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`)
}

const named = new Map<string, MemoryBroker>()

/** The broker shared under `name` in this process, made on first use. */
export function brokerNamed (name: string, options?: MemoryBrokerOptions): MemoryBroker {
  let broker = named.get(name)
  if (!broker) {
    broker = new MemoryBroker(options)
    named.set(name, broker)
  }
  return broker
}
