import { normalizeConsumeArgs, normalizeGatherOptions, normalizePublishOptions, normalizeRequestOptions, assertRoutingKey, type NormalizedPublish } from './call-options'
import { encode, type Encoded } from './codec'
import { gather } from './gather'
import { Connection } from './connection'
import { WarrenConsumer } from './consumer'
import { FST_AMQP_CLOSED, FST_AMQP_NOT_CONNECTED, retryLater } from './errors'
import type { Log } from './log'
import type { NormalizedOptions } from './options'
import { Publisher, type PublisherOptions } from './publisher'
import { RpcClient, type Call } from './rpc'
import { withTimeout } from './timeout'
import { declareExchange } from './topology'
import type { ConsumeOptions, Consumer, GatherOptions, Health, GatherResult, MessageHandler, PublishOptions, PublishReceipt, RequestOptions } from './types'

type State = 'idle' | 'connecting' | 'connected' | 'closing' | 'closed'

/**
 * @internal
 * The framework-agnostic core. A publishing connection carries the publishing
 * channel (confirmed), the replies channel and the RPC client's channel (made
 * on first use; neither confirmed); a consuming connection carries a channel
 * per consumer. The Fastify plugin wraps it.
 */
export class Warren {
  private state: State = 'idle'
  private readonly conn: Connection
  private readonly consumeConn: Connection
  private readonly publisher: Publisher
  /** Replies to requests: a plain channel (direct reply-to replies are at most once; see reply.ts). */
  private readonly replies: Publisher
  private rpcClient: RpcClient | undefined
  private readonly consumers = new Set<WarrenConsumer>()
  private consuming = false
  private closing: Promise<void> | undefined
  /** publish() options when a call gives none, worked out once. */
  private readonly publishDefaults: Readonly<NormalizedPublish>
  /** When the drain that began with stopConsumers() must be over: one closeTimeout for the whole close. */
  private drainDeadline: number | undefined

  constructor (readonly opts: NormalizedOptions, private readonly log: Log) {
    this.conn = new Connection(opts, log)
    this.publishDefaults = Object.freeze(normalizePublishOptions(undefined, opts))
    // Consumers get a connection of their own: a broker that blocks
    // publishers (memory or disk alarm) stops reading from their connection,
    // acks included, and consumers are what drains the queues during an alarm.
    this.consumeConn = new Connection(opts, log, 'consume')
    this.publisher = new Publisher(this.conn, {
      ...this.publishing(),
      name: 'publisher',
      setup: async (ch) => {
        for (const [name, type] of Object.entries(opts.exchanges)) await declareExchange(ch, name, type)
      }
    }, log)
    this.replies = new Publisher(this.conn, { ...this.publishing(), name: 'replies', confirm: false, knownExchanges: [] }, log)
  }

  /** What every channel that publishes (messages, replies, requests) shares. */
  private publishing (): Omit<PublisherOptions, 'name'> {
    const o = this.opts
    return {
      appId: o.connectionName,
      publishTimeout: o.publishTimeout,
      bufferSize: o.publishBuffer,
      reopenDelay: o.reconnectDelay,
      reopenDelayMax: o.reconnectDelayMax,
      knownExchanges: Object.keys(o.exchanges)
    }
  }

  /** Connects and declares the default exchange; rejects with a coded error. */
  async connect (): Promise<void> {
    if (this.state !== 'idle') throw new FST_AMQP_CLOSED('connect() called twice')
    this.state = 'connecting'
    try {
      // Both connections at boot, so that a consumer registered at any time
      // finds its connection there (or reconnecting), and boot fails on either.
      await Promise.all([
        this.conn.open().then(() => this.publisher.start()),
        this.consumeConn.open()
      ])
    } catch (err) {
      this.close().catch(() => {}) // in the background: boot reports the error now
      throw err
    }
    if (this.state === 'connecting') this.state = 'connected'
  }

  /**
   * Starts every consumer registered so far (later ones start at once). A
   * consumer that cannot start within connectTimeout, its connection being
   * down, fails ready() with FST_AMQP_NOT_CONNECTED, and goes on trying.
   */
  async startConsumers (): Promise<void> {
    this.consuming = true
    const wait = this.opts.connectTimeout
    await Promise.all([...this.consumers].map((c) => withTimeout(c.start(), wait, () => retryLater(new FST_AMQP_NOT_CONNECTED(
      `the consumer of queue "${c.queue}" could not start within ${wait} ms: its connection is down`), this.conn.retryAfter()))))
  }

  publish (routingKey: string, body: unknown, options?: PublishOptions): Promise<PublishReceipt> {
    // Not async: one promise per publish (the publisher's), with bad arguments as a rejection too.
    let o: NormalizedPublish
    let encoded: Encoded
    try {
      assertRoutingKey(routingKey)
      o = options === undefined ? this.publishDefaults : normalizePublishOptions(options, this.opts)
      encoded = this.encode(body)
    } catch (err) {
      return Promise.reject(err)
    }
    const messageId = o.messageId ?? Publisher.messageId()
    return this.publisher.publish(o.exchange, routingKey, encoded.content, {
      messageId,
      correlationId: o.correlationId,
      contentType: o.contentType ?? encoded.contentType,
      headers: o.headers,
      persistent: o.persistent,
      expiration: o.expiration,
      priority: o.priority,
      mandatory: o.mandatory,
      timestamp: Math.floor(Date.now() / 1000)
    }, o.timeout, { messageId })
  }

  request (routingKey: string, body: unknown, options?: RequestOptions): Promise<any> {
    let call: Call
    let encoded: Encoded
    try {
      assertRoutingKey(routingKey)
      call = { ...normalizeRequestOptions(options, this.opts), routingKey }
      encoded = this.encode(body)
      return this.rpc().request(call, encoded)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async gather (routingKey: string, body: unknown, options?: GatherOptions): Promise<GatherResult> {
    assertRoutingKey(routingKey)
    const { expect, ...o } = normalizeGatherOptions(options, this.opts)
    const encoded = this.encode(body)
    return gather(this.rpc(), { ...o, routingKey }, encoded, expect)
  }

  /** Encodes a body, refusing one over maxMessageSize before anything is sent. */
  private encode (body: unknown): Encoded {
    return encode(body, this.opts.maxMessageSize)
  }

  /** The RPC client, made on first use. */
  private rpc (): RpcClient {
    if (this.state === 'closing' || this.state === 'closed') throw new FST_AMQP_CLOSED('request() after close')
    this.rpcClient ??= new RpcClient(this.conn, this.publishing(), this.log)
    return this.rpcClient
  }

  consume (routingKey: string | string[], handler: MessageHandler, options: ConsumeOptions | undefined, thisArg: unknown): Consumer {
    const spec = normalizeConsumeArgs(routingKey, handler, options, this.opts)
    if (this.state === 'closing' || this.state === 'closed') throw new FST_AMQP_CLOSED('consume() after close')
    const consumer = new WarrenConsumer({
      conn: this.consumeConn,
      publisher: this.publisher,
      replies: this.replies,
      log: this.log,
      reopenDelay: this.opts.reconnectDelay,
      reopenDelayMax: this.opts.reconnectDelayMax,
      closeTimeout: this.opts.closeTimeout,
      maxMessageSize: this.opts.maxMessageSize,
      onStopped: (c) => this.consumers.delete(c)
    }, spec, handler, thisArg)
    this.consumers.add(consumer)
    if (this.consuming) {
      consumer.start().catch((err: Error) => this.log.error({ err, queue: consumer.queue }, 'amqp consumer could not start'))
    }
    return consumer
  }

  health (): Health {
    const consumers = [...this.consumers]
    const connected = this.state === 'connected' && this.conn.current !== undefined && this.consumeConn.current !== undefined
    const blocked = connected && this.conn.blocked
    const running = consumers.filter((c) => c.running).length
    const status = !connected ? 'down' : blocked || running < consumers.length ? 'degraded' : 'ok'
    return { status, connected, blocked, consumers: { total: consumers.length, running }, buffered: this.publisher.buffered + this.replies.buffered + (this.rpcClient?.buffered ?? 0) }
  }

  /** Cancels every consumer and waits for their handlers in flight. */
  async stopConsumers (): Promise<void> {
    this.consuming = false
    this.drainDeadline ??= Date.now() + this.opts.closeTimeout
    await Promise.all([...this.consumers].map((c) => c.cancel()))
  }

  /**
   * Shuts down in order: consumers (drained) and their connection, pending
   * requests (rejected with FST_AMQP_CLOSED), the replies channel, held
   * publishes and outstanding confirms (awaited within what is left of
   * closeTimeout), then the publishing connection. Safe to call twice.
   */
  close (): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown (): Promise<void> {
    this.state = 'closing'
    await this.stopConsumers()
    await this.consumeConn.close()
    // One closeTimeout for the whole drain (counted from the consumers' stop), not one per step.
    const deadline = this.drainDeadline ?? Date.now()
    const left = () => Math.max(0, deadline - Date.now())
    await this.rpcClient?.close()
    await this.replies.close(left())
    await this.publisher.close(left())
    await this.conn.close()
    this.state = 'closed'
    this.log.info({}, 'amqp closed')
  }
}
