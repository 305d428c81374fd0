import { normalizeConsumeArgs, normalizeGatherOptions, normalizePublishOptions, normalizeRequestOptions, assertRoutingKey, type NormalizedPublish } from './call-options'
import { gather } from './gather'
import { transportFor } from '../transport/transport'
import { Connection } from './connection'
import { WarrenConsumer } from './consumer'
import { asyncApiDocument } from '../contracts/asyncapi'
import { isDefinition, type Definition } from '../contracts/define'
import { invalidMessage, Validators } from '../contracts/validate'
import { Envelope } from './envelope'
import { Telemetry, type SendRecord } from '../telemetry/telemetry'
import { FST_AMQP_CLOSED, FST_AMQP_DUPLICATE_CONSUMER, FST_AMQP_INVALID_ARGUMENT, FST_AMQP_NOT_CONNECTED, retryLater } from './errors'
import { secretId } from './ids'
import type { Log } from './log'
import { describe, type NormalizedOptions } from './options'
import { Publisher, type PublisherOptions } from './publisher'
import { RpcClient, type Call } from './rpc'
import { withTimeout } from './timeout'
import { declareExchange } from './topology'
import type { AsyncApiDocument, Consumer, GatherOptions, Health, GatherResult, MessageHandler, PublishOptions, PublishReceipt, RequestOptions } from './types'

type State = 'idle' | 'connecting' | 'connected' | 'closing' | 'closed'

/** @internal What the host (the Fastify plugin) tells the core about a call. */
export interface HostContext {
  /** The schemas a JSON Schema may $ref (app.getSchemas() of the calling instance). */
  schemas?: () => Record<string, unknown>
}

/** The broker's host and port, for the spans' server.address and server.port. */
function serverOf (url: string): { address: string, port: number | undefined } {
  const u = new URL(url)
  // The in-memory broker has a name, and no port.
  if (u.protocol === 'memory:') return { address: u.hostname === '' ? 'memory' : `memory:${u.hostname}`, port: undefined }
  return { address: u.hostname, port: u.port === '' ? (u.protocol === 'amqps:' ? 5671 : 5672) : Number(u.port) }
}

/** The definition given to `method`, checked to be of `kind`. */
function definitionOf (target: unknown, kind: 'message', method: string): Extract<Definition, { kind: 'message' }>
function definitionOf (target: unknown, kind: 'request', method: string): Extract<Definition, { kind: 'request' }>
function definitionOf (target: unknown, kind: Definition['kind'], method: string): Definition {
  if (!isDefinition(target)) throw new FST_AMQP_INVALID_ARGUMENT('routingKey', `expected a routing key or a definition, got ${describe(target)}`)
  if (target.kind !== kind) {
    throw new FST_AMQP_INVALID_ARGUMENT('definition', `${method} takes a ${kind === 'message' ? 'defineMessage()' : 'defineRequest()'} definition, and "${target.routingKey}" is a ${target.kind}`)
  }
  return target
}

/** Headers with the trace context added (it wins over a caller's own `traceparent`). */
function mergeHeaders (headers: Record<string, unknown> | undefined, trace: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (trace === undefined || Object.keys(trace).length === 0) return headers
  return headers === undefined ? trace : { ...headers, ...trace }
}

/** Publish options with the trace context in their headers. */
function withHeaders (o: NormalizedPublish, trace: Record<string, unknown> | undefined): NormalizedPublish {
  const headers = mergeHeaders(o.headers, trace)
  return headers === o.headers ? o : { ...o, headers }
}

/** Options with the definition's exchange, unless they name one themselves. */
function withExchange<O extends { exchange?: string }> (options: O | undefined, def: Definition): O | undefined {
  if (def.exchange === undefined || options?.exchange !== undefined) return options
  return { ...options, exchange: def.exchange } as O
}

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
  /** Compiled schemas of the definitions and per-call schemas used here. */
  private readonly validators = new Validators()
  /** Traces, metrics and diagnostics channels; nothing when nobody listens. */
  readonly telemetry: Telemetry
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
    // One transport for both connections: a private memory broker is theirs alike.
    const transport = transportFor(opts.urls)
    this.conn = new Connection(opts, log, transport)
    this.envelope = new Envelope({
      appId: opts.connectionName,
      maxMessageSize: opts.maxMessageSize,
      brokerMaxMessageSize: () => this.conn.brokerMaxMessageSize,
      frameMax: () => this.conn.frameMax
    })
    this.publishDefaults = Object.freeze(normalizePublishOptions(undefined, opts))
    this.telemetry = new Telemetry({
      server: serverOf(opts.urls[0]),
      clientId: opts.connectionName,
      gauges: () => ({
        buffered: this.publisher.buffered + this.replies.buffered + (this.rpcClient?.buffered ?? 0),
        connections: { publish: this.conn.current !== undefined, consume: this.consumeConn.current !== undefined }
      })
    })
    // Consumers get a connection of their own: a broker that blocks
    // publishers (memory or disk alarm) stops reading from their connection,
    // acks included, and consumers are what drains the queues during an alarm.
    this.consumeConn = new Connection(opts, log, transport, 'consume')
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
      // A reply to a named queue is mandatory: one whose reply_to names no queue comes back here.
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

  /**
   * Publishes to a routing key, or a defined message (validated first).
   * `host` gives the schemas a definition's JSON Schema may $ref.
   */
  publish (target: string | Definition, body: unknown, options?: PublishOptions, host?: HostContext): Promise<PublishReceipt> {
    if (typeof target !== 'string') return this.publishDefined(target, body, options, host)
    // Not async: one promise per publish (the publisher's), with bad arguments as a rejection too.
    let o: NormalizedPublish
    try {
      assertRoutingKey(target)
      o = options === undefined ? this.publishDefaults : normalizePublishOptions(options, this.opts)
      if (this.telemetry.on) return this.telemetry.publish('publish', o.exchange, target, (headers, record) => this.send(o, target, body, headers, record))
      return this.send(o, target, body)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  private async publishDefined (target: unknown, body: unknown, options: PublishOptions | undefined, host: HostContext | undefined): Promise<PublishReceipt> {
    const def = definitionOf(target, 'message', 'publish()')
    const o = normalizePublishOptions(withExchange(options, def), this.opts)
    await this.checkOutgoing(def, body, o.headers, host)
    if (this.telemetry.on) return this.telemetry.publish('publish', o.exchange, def.routingKey, (headers, record) => this.send(o, def.routingKey, body, headers, record))
    return this.send(o, def.routingKey, body)
  }

  /** Builds the message (with the trace headers, when traced) and publishes it. */
  private send (o: NormalizedPublish, routingKey: string, body: unknown, trace?: Record<string, unknown>, record?: SendRecord): Promise<PublishReceipt> {
    const message = this.envelope.publish(o.exchange, routingKey, body, withHeaders(o, trace))
    record?.sent({ messageId: message.props.messageId, correlationId: message.props.correlationId, bodySize: message.content.length })
    return this.publisher.publish(message, o.timeout, { messageId: message.props.messageId })
  }

  /** Sends a request to a routing key, or a defined request (validated first, its reply validated too). */
  request (target: string | Definition, body: unknown, options?: RequestOptions, host?: HostContext): Promise<any> {
    if (typeof target !== 'string') return this.requestDefined(target, body, options, host)
    try {
      assertRoutingKey(target)
      const call: Call = { ...normalizeRequestOptions(options, this.opts), routingKey: target }
      if (this.telemetry.on) return this.telemetry.request('request', call.exchange, target, (headers, record) => this.ask(call, body, headers, record))
      return this.ask(call, body)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  private async requestDefined (target: unknown, body: unknown, options: RequestOptions | undefined, host: HostContext | undefined): Promise<unknown> {
    const def = definitionOf(target, 'request', 'request()')
    const o = normalizeRequestOptions(withExchange(options, def), this.opts)
    await this.checkOutgoing(def, body, o.headers, host)
    const call: Call = { ...o, routingKey: def.routingKey, reply: this.validators.check(def.reply, 'in', 'definition.reply', host?.schemas) }
    if (this.telemetry.on) return this.telemetry.request('request', call.exchange, call.routingKey, (headers, record) => this.ask(call, body, headers, record))
    return this.ask(call, body)
  }

  /** Builds the request (with the trace headers, when traced) and sends it. */
  private ask (call: Call, body: unknown, trace?: Record<string, unknown>, record?: SendRecord): Promise<unknown> {
    const message = this.envelope.request(call.exchange, call.routingKey, body, secretId(), call.timeout, mergeHeaders(call.headers, trace))
    record?.sent({ correlationId: message.props.correlationId, bodySize: message.content.length })
    return this.rpc().request(call, message)
  }

  async gather (target: string | Definition, body: unknown, options?: GatherOptions, host?: HostContext): Promise<GatherResult> {
    const def = typeof target === 'string' ? undefined : definitionOf(target, 'request', 'gather()')
    const routingKey = def === undefined ? assertRoutingKey(target) : def.routingKey
    const { expect, ...o } = normalizeGatherOptions(def === undefined ? options : withExchange(options, def), this.opts)
    if (def !== undefined) await this.checkOutgoing(def, body, o.headers, host)
    const call: Call = { ...o, routingKey, reply: def === undefined ? undefined : this.validators.check(def.reply, 'in', 'definition.reply', host?.schemas) }
    const collect = (trace?: Record<string, unknown>, record?: SendRecord): Promise<GatherResult> => {
      const message = this.envelope.request(o.exchange, routingKey, body, secretId(), o.timeout, mergeHeaders(o.headers, trace))
      record?.sent({ correlationId: message.props.correlationId, bodySize: message.content.length })
      const heard = record === undefined ? undefined : (from: string) => record.event('reply received', { 'fastify_warren.reply_from': from })
      return gather(this.rpc(), call, message, expect, heard)
    }
    return this.telemetry.on ? this.telemetry.request('gather', o.exchange, routingKey, collect) : collect()
  }

  /** Checks a defined message's body and headers before it is sent: FST_AMQP_INVALID_MESSAGE, and nothing is sent. */
  private async checkOutgoing (def: Definition, body: unknown, headers: Record<string, unknown> | undefined, host: HostContext | undefined): Promise<void> {
    const checked = await this.validators.check(def.body, 'out', 'definition.body', host?.schemas)(body)
    if (!checked.ok) throw invalidMessage('body', def.routingKey, checked.issues)
    if (def.headers === undefined) return
    const checkedHeaders = await this.validators.check(def.headers, 'out', 'definition.headers', host?.schemas)(headers ?? {})
    if (!checkedHeaders.ok) throw invalidMessage('headers', def.routingKey, checkedHeaders.issues)
  }

  /** The RPC client, made on first use. */
  private rpc (): RpcClient {
    if (this.state === 'closing' || this.state === 'closed') throw new FST_AMQP_CLOSED('request() after close')
    if (this.rpcClient === undefined) {
      this.rpcClient = new RpcClient(this.conn, this.envelope, this.publishing(), this.log)
      this.rpcClient.onTimedOut = (routingKey) => this.telemetry.rpcTimeout(routingKey)
    }
    return this.rpcClient
  }

  /**
   * Registers a consumer of a routing key (or keys) or a definition, with
   * its handler and options in either order. `thisArg` is the handler's
   * `this`; `host` gives the schemas a JSON Schema may $ref.
   */
  consume (target: unknown, second: unknown, third: unknown, thisArg: unknown, host?: HostContext): Consumer {
    const { spec, handler } = normalizeConsumeArgs(target, second, third, this.opts)
    if (this.state === 'closing' || this.state === 'closed') throw new FST_AMQP_CLOSED('consume() after close')
    const c = spec.contract
    const next = spec.next?.definition
    const checks = {
      body: c?.body === undefined ? undefined : this.validators.check(c.body, 'in', c.definition ? 'definition.body' : 'options.schema.body', host?.schemas),
      headers: c?.headers === undefined ? undefined : this.validators.check(c.headers, 'in', c.definition ? 'definition.headers' : 'options.schema.headers', host?.schemas),
      next: next === undefined ? undefined : this.validators.check(next.body, 'out', 'options.next.body', host?.schemas)
    }
    const named = spec.topology.exclusive ? undefined : spec.topology.queue
    if (named !== undefined && this.consumedQueues.has(named)) throw new FST_AMQP_DUPLICATE_CONSUMER(named)
    const consumer = new WarrenConsumer({
      conn: this.consumeConn,
      envelope: this.envelope,
      telemetry: this.telemetry,
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
    }, spec, handler as MessageHandler, thisArg, checks)
    this.consumers.add(consumer)
    if (named !== undefined) this.consumedQueues.add(named)
    if (this.consuming) {
      consumer.start().catch((err: Error) => this.log.error({ err, queue: consumer.queue }, 'amqp consumer could not start'))
    }
    return consumer
  }

  /** This service's AsyncAPI 3.0 document, as it stands now. */
  asyncapi (host?: HostContext): AsyncApiDocument {
    const a = this.opts.asyncapi
    return asyncApiDocument({
      title: a.title,
      version: a.version,
      description: a.description,
      url: this.opts.urls[0],
      exchange: this.opts.exchange,
      exchanges: this.opts.exchanges,
      consumers: [...this.consumers].map((c) => c.description),
      publishes: this.opts.publishes,
      shared: host?.schemas?.() ?? {}
    }) as AsyncApiDocument
  }

  health (): Health {
    const consumers = [...this.consumers]
    const connected = this.state === 'connected' && this.conn.current !== undefined && this.consumeConn.current !== undefined
    const blocked = connected && this.conn.blocked
    const list = consumers.map((c) => c.health())
    const running = list.filter((c) => c.running).length
    const stuck = list.some((c) => c.error !== undefined)
    // Only the publishing channel has confirms (replies and requests have none), so only it can be nacked.
    const nacked = this.publisher.nacked
    const status = !connected ? 'down' : blocked || nacked || stuck || running < consumers.length ? 'degraded' : 'ok'
    return {
      status,
      connected,
      blocked,
      consumers: { total: consumers.length, running, list },
      buffered: this.publisher.buffered + this.replies.buffered + (this.rpcClient?.buffered ?? 0),
      publishing: nacked ? 'nacked' : 'ok'
    }
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
