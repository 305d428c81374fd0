import { normalizeConsumeArgs, normalizeGatherOptions, normalizePublishOptions, normalizeRequestOptions, assertRoutingKey, type NormalizedPublish } from './call-options'
import { gather } from './gather'
import { Connection } from './connection'
import { WarrenConsumer } from './consumer'
import { Envelope, type Outgoing } from './envelope'
import { FST_AMQP_CLOSED, FST_AMQP_DUPLICATE_CONSUMER, FST_AMQP_NOT_CONNECTED, retryLater } from './errors'
import { secretId } from './ids'
import type { Log } from './log'
import type { NormalizedOptions } from './options'
import { Publisher, type PublisherOptions } from './publisher'
import { RpcClient } from './rpc'
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
  /** Replies to requests: a plain channel (direct reply-to replies are at most once, whatever we do). */
  private readonly replies: Publisher
  private rpcClient: RpcClient | undefined
  private readonly consumers = new Set<WarrenConsumer>()
  /** Named queues consumed by this app: a second consumer of one would split its messages. */
  private readonly consumedQueues = new Set<string>()
  /** Builds and checks every message sent, reads every delivery. */
  readonly envelope: Envelope
  private consuming = false
  private closing: Promise<void> | undefined
  /** publish() options when a call gives none, worked out once. */
  private readonly publishDefaults: Readonly<NormalizedPublish>
  /** When the drain that began with stopConsumers() must be over: one closeTimeout for the whole close. */
  private drainDeadline: number | undefined

  constructor (readonly opts: NormalizedOptions, private readonly log: Log) {
    this.conn = new Connection(opts, log)
    this.envelope = new Envelope({
      appId: opts.connectionName,
      maxMessageSize: opts.maxMessageSize,
      brokerMaxMessageSize: () => this.conn.brokerMaxMessageSize,
      frameMax: () => this.conn.frameMax
    })
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
    this.replies = new Publisher(this.conn, {
      ...this.publishing(),
      name: 'replies',
      confirm: false,
      knownExchanges: [],
      // Replies are mandatory: one whose reply_to names no queue comes back here.
      onReturn: (msg) => log.warn({ replyTo: msg.fields.routingKey, correlationId: msg.properties.correlationId },
        'amqp reply returned: its reply_to names no queue (the requester is gone, or gave a wrong address); dropped')
    }, log)
  }

  /** What every channel that publishes (messages, replies, requests) shares. */
  private publishing (): Omit<PublisherOptions, 'name'> {
    const o = this.opts
    return {
      publishTimeout: o.publishTimeout,
      bufferSize: o.publishBuffer,
      bufferBytes: o.publishBufferBytes,
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
    let message: Outgoing
    try {
      assertRoutingKey(routingKey)
      o = options === undefined ? this.publishDefaults : normalizePublishOptions(options, this.opts)
      message = this.envelope.publish(o.exchange, routingKey, body, o)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.publisher.publish(message, o.timeout, { messageId: message.props.messageId })
  }

  request (routingKey: string, body: unknown, options?: RequestOptions): Promise<any> {
    try {
      assertRoutingKey(routingKey)
      const call = { ...normalizeRequestOptions(options, this.opts), routingKey }
      const message = this.envelope.request(call.exchange, routingKey, body, secretId(), call.timeout, call.headers)
      return this.rpc().request(call, message)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async gather (routingKey: string, body: unknown, options?: GatherOptions): Promise<GatherResult> {
    assertRoutingKey(routingKey)
    const { expect, ...o } = normalizeGatherOptions(options, this.opts)
    const message = this.envelope.request(o.exchange, routingKey, body, secretId(), o.timeout, o.headers)
    return gather(this.rpc(), { ...o, routingKey }, message, expect)
  }

  /** The RPC client, made on first use. */
  private rpc (): RpcClient {
    if (this.state === 'closing' || this.state === 'closed') throw new FST_AMQP_CLOSED('request() after close')
    this.rpcClient ??= new RpcClient(this.conn, this.envelope, this.publishing(), this.log)
    return this.rpcClient
  }

  consume (routingKey: string | string[], handler: MessageHandler, options: ConsumeOptions | undefined, thisArg: unknown): Consumer {
    const spec = normalizeConsumeArgs(routingKey, handler, options, this.opts)
    if (this.state === 'closing' || this.state === 'closed') throw new FST_AMQP_CLOSED('consume() after close')
    const named = spec.topology.exclusive ? undefined : spec.topology.queue
    if (named !== undefined && this.consumedQueues.has(named)) throw new FST_AMQP_DUPLICATE_CONSUMER(named)
    const consumer = new WarrenConsumer({
      conn: this.consumeConn,
      envelope: this.envelope,
      publisher: this.publisher,
      replies: this.replies,
      log: this.log,
      reopenDelay: this.opts.reconnectDelay,
      reopenDelayMax: this.opts.reconnectDelayMax,
      closeTimeout: this.opts.closeTimeout,
      onStopped: (c) => {
        this.consumers.delete(c)
        if (named !== undefined) this.consumedQueues.delete(named)
      }
    }, spec, handler, thisArg)
    this.consumers.add(consumer)
    if (named !== undefined) this.consumedQueues.add(named)
    if (this.consuming) {
      consumer.start().catch((err: Error) => this.log.error({ err, queue: consumer.queue }, 'amqp consumer could not start'))
    }
    return consumer
  }

  health (): Health {
    const consumers = [...this.consumers]
    const connected = this.state === 'connected' && this.conn.current !== undefined && this.consumeConn.current !== undefined
    const blocked = connected && this.conn.blocked
    const list = consumers.map((c) => c.health())
    const running = list.filter((c) => c.running).length
    const stuck = list.some((c) => c.error !== undefined)
    const status = !connected ? 'down' : blocked || stuck || running < consumers.length ? 'degraded' : 'ok'
    return { status, connected, blocked, consumers: { total: consumers.length, running, list }, buffered: this.publisher.buffered + this.replies.buffered + (this.rpcClient?.buffered ?? 0) }
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
