import type { FastifyBaseLogger, FastifyInstance, FastifyTypeProvider, FastifyTypeProviderDefault, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerBase, RawServerDefault } from 'fastify'
import type { Definition, DEFINITION, InputOf, MessageDefinition, OutputOf, RequestDefinition, Schema } from '../contracts/define'
import type { ValidationIssue } from '../contracts/validate'

/** The exchange types RabbitMQ routes with. */
export type ExchangeType = 'direct' | 'fanout' | 'topic' | 'headers'

/** Options given to `app.register(warren, options)`. */
export interface WarrenOptions {
  /**
   * Broker URL, or a list tried in turn (`amqp://user:pass@host:5672/vhost`).
   * The password is never logged.
   */
  url: string | string[]
  /**
   * TLS settings for `amqps://` URLs, handed to Node's `tls.connect()`: a
   * private CA (`ca`), a client certificate (`cert` and `key`, or `pfx`),
   * and so on. Not needed for a broker whose certificate a public CA signed
   * (most managed brokers): `amqps://` alone checks it against Node's CAs.
   * Refused with an `amqp://` or `memory://` URL, where it would not be used.
   * The key, passphrase and pfx are never logged.
   * @default undefined (Node's defaults)
   */
  tls?: TlsOptions
  /**
   * How the connection logs in: 'plain' sends the user name and password of
   * the URL; 'external' (SASL EXTERNAL) lets the broker take the user from
   * the client certificate (`tls.cert` and `tls.key`, or `tls.pfx`, both
   * required), so the URL holds no user name or password. RabbitMQ needs
   * the rabbitmq_auth_mechanism_ssl plugin, EXTERNAL in `auth_mechanisms`
   * and `ssl_cert_login_from` (e.g. `common_name`).
   * @default 'plain'
   */
  auth?: 'plain' | 'external'
  /**
   * Registers another broker (or another set of connections to the same
   * one) beside the default registration, as `app.amqp.<name>`: the same
   * API, over connections, consumers and a lifecycle of its own. A
   * JavaScript identifier that is not one of `app.amqp`'s own members
   * (`publish`, `consume`, `then`, ...). Declare it for TypeScript in
   * {@link AmqpRegistrations}. Without it, the registration is `app.amqp`
   * itself; each name (and the default) may be registered once.
   * @default undefined (the default registration)
   */
  name?: string
  /**
   * The exchange publish(), consume() and request() use unless told otherwise:
   * a durable topic exchange, declared at boot.
   * @default 'warren'
   */
  exchange?: string
  /**
   * More exchanges to declare (durable) at boot and again after every
   * reconnect, by name and type, so a service can publish to them before any
   * consumer has bound a queue: `{ logs: 'fanout', direct_logs: 'direct' }`.
   * A consumer of one of them gets its type by default.
   * @default {}
   */
  exchanges?: Record<string, ExchangeType>
  /**
   * Default number of unacknowledged messages a consumer may hold, which is
   * also how many of its handlers run at once. Per consumer, overridable.
   * @default 10
   */
  prefetch?: number
  /**
   * The type of queue a consumer declares unless its own `queueType` (or an
   * `x-queue-type` in its `queueArguments`) says otherwise: 'quorum' makes
   * every named queue, with its wait queues and dead-letter queue, a
   * replicated quorum queue. Exclusive queues stay classic (RabbitMQ has no
   * other kind). Streams are chosen per consumer only: they change what a
   * consumer does (no retries, every consumer reads every message).
   * The default keeps queues declared by earlier versions equivalent: a
   * classic queue is declared without `x-queue-type`.
   * @default 'classic'
   */
  queueType?: 'classic' | 'quorum'
  /**
   * This service's name: the name of its publishing connection in the
   * RabbitMQ management UI and `rabbitmqctl list_connections` (its consuming
   * connection is `<name> (consumers)`), and the `app_id` property of every
   * message it sends (so gather() can tell which service replied).
   * @default 'fastify-warren', or 'fastify-warren:<name>' for a named registration
   */
  connectionName?: string
  /**
   * Heartbeat interval in seconds; 0 disables heartbeats.
   * @default 10
   */
  heartbeat?: number
  /**
   * How long registration waits for its two connections (publishing and
   * consuming, opened together), in milliseconds, before `ready()` rejects
   * with FST_AMQP_CONNECT_TIMEOUT. Keep it below Fastify's `pluginTimeout`
   * (10000 by default).
   * @default 5000
   */
  connectTimeout?: number
  /**
   * First wait before reconnecting, in milliseconds (and before reopening a
   * channel the broker closed). Each failed attempt doubles it, up to
   * `reconnectDelayMax`; every wait is picked at random between half and all
   * of that, so that many instances do not reconnect in step.
   * @default 1000
   */
  reconnectDelay?: number
  /**
   * The longest wait between reconnection attempts, in milliseconds.
   * @default 30000 (or reconnectDelay, if larger)
   */
  reconnectDelayMax?: number
  /**
   * How long a publish may take in all, in milliseconds: waiting for a
   * connection (or for a blocked broker to resume), then for the broker's
   * confirm. It then rejects with FST_AMQP_NOT_CONNECTED or FST_AMQP_BLOCKED
   * if the message was never sent, or FST_AMQP_PUBLISH_UNCONFIRMED if it was
   * sent but not confirmed (it may have been delivered). Per call: `timeout`.
   * @default 10000
   */
  publishTimeout?: number
  /**
   * How many publishes may wait, in memory and in order, while there is no
   * connection or the broker blocks publishing; each waits at most its
   * timeout. One more rejects at once with FST_AMQP_BUFFER_FULL. `0` refuses
   * every publish at once while disconnected or blocked (FST_AMQP_NOT_CONNECTED,
   * FST_AMQP_BLOCKED). Held publishes are not on disk: a crash loses them, and
   * their promises never resolved. Requests and replies have buffers of
   * their own, of the same size.
   * @default 10000
   */
  publishBuffer?: number
  /**
   * How many bytes those held publishes may take in all (bodies and
   * headers), so that large messages published through an outage cannot
   * exhaust memory: past either bound a publish rejects at once with
   * FST_AMQP_BUFFER_FULL. `0` is like `publishBuffer: 0`. Requests and
   * replies have a bound of their own, of the same size. A held message's
   * body is let go once written to the socket.
   * @default 67108864 (64 MiB)
   */
  publishBufferBytes?: number
  /**
   * The largest encoded body the plugin sends, in bytes: publish(), request()
   * and gather() reject a larger one with FST_AMQP_MESSAGE_TOO_LARGE before
   * anything is sent; a pipeline stage's larger result goes to the dead-letter
   * queue, a larger reply becomes an error reply. Keep it at or below the
   * broker's `max_message_size` (whose default this is), which would
   * otherwise close the channel.
   * @default 134217728 (128 MiB)
   */
  maxMessageSize?: number
  /**
   * How long `app.close()` may take to drain, in milliseconds: the handlers
   * in flight first, then held publishes and outstanding confirms share
   * what is left.
   * @default 30000
   */
  closeTimeout?: number
  /**
   * The definitions this service publishes (or requests), so that its
   * AsyncAPI document lists them before the first message is sent.
   * @default []
   */
  publishes?: Definition[]
  /**
   * Serves this service's AsyncAPI document: the JSON at `<path>.json` and a
   * page rendering it at `<path>`. `true` is `{ path: '/asyncapi' }`.
   * `app.amqp.asyncapi()` returns the document either way.
   * @default false
   */
  asyncapi?: boolean | AsyncApiOptions
  /**
   * Serves `health()` at this path, for a readiness probe that needs no code:
   * 200 with the JSON when the status is `ok`, 503 with it otherwise
   * (`degraded` or `down`). Off unless given.
   * @default undefined
   */
  healthRoute?: string
  /**
   * Sends the frames amqplib writes in one turn of the event loop (publishes,
   * acks, replies) to the socket in one write, instead of one write each: the
   * same bytes in the same order, far fewer system calls. It patches amqplib's
   * private internals, so it is installed only when they are what it was
   * checked against (amqplib ~2.3.1); otherwise the plugin logs one warning
   * and writes as amqplib does. `false` turns it off. Ignored on `memory://`.
   * @default true
   */
  coalesceWrites?: boolean
}

/**
 * TLS settings of the connections (`amqps://` URLs only), passed to Node's
 * `tls.connect()`. PEM text (a string or a Buffer) where a certificate or key
 * is asked for: read files yourself (`readFileSync('ca.pem')`).
 */
export interface TlsOptions {
  /**
   * The CA certificates to trust instead of Node's bundled ones, as PEM (one
   * or more certificates, or a list): the broker's private CA.
   * @default Node's trusted CAs
   */
  ca?: string | Buffer | Array<string | Buffer>
  /** The client certificate chain, as PEM, for brokers that ask for one (and for `auth: 'external'`). */
  cert?: string | Buffer
  /** The client certificate's private key, as PEM (encrypted with `passphrase` if need be). */
  key?: string | Buffer
  /** Decrypts `key` or `pfx`. Never logged. */
  passphrase?: string
  /** The client certificate and key (and CAs) as one PKCS#12 file, instead of `cert` and `key`. */
  pfx?: string | Buffer
  /**
   * The host name checked against the broker's certificate, and sent as
   * SNI, when it is not the URL's host (an IP address in the URL, or a
   * tunnel).
   * @default the URL's host name (none for an IP address)
   */
  servername?: string
  /**
   * Whether to refuse a broker whose certificate is not signed by a trusted
   * CA or does not name its host. `false` is for tests only: anyone on the
   * way can then read the traffic, the password included.
   * @default true
   */
  rejectUnauthorized?: boolean
}

/** Options of the AsyncAPI document and its page. */
export interface AsyncApiOptions {
  /** Where the page is served; the JSON is at `<path>.json`. @default '/asyncapi' */
  path?: string
  /** The document's title. @default connectionName */
  title?: string
  /** The document's version (of your API). @default '1.0.0' */
  version?: string
  /** The document's description. */
  description?: string
  /**
   * Where the page loads the AsyncAPI React component from: its standalone
   * script and stylesheet. @default unpkg.com, @asyncapi/react-component 3.2.1
   */
  ui?: { script?: string, stylesheet?: string }
}
export interface PublishOptions {
  /** Exchange to publish to. `''` is RabbitMQ's default exchange (routing key = queue name). @default the plugin's exchange */
  exchange?: string
  /** Reject with FST_AMQP_UNROUTABLE when no queue receives the message. Set false for fire-and-forget events. @default true */
  mandatory?: boolean
  /** Survive a broker restart (in a durable queue). @default true */
  persistent?: boolean
  /** Application headers. */
  headers?: Record<string, unknown>
  /** Time to live in milliseconds; the broker discards the message after it. */
  expiration?: number
  /** Message priority, 0–255 (only used by priority queues). */
  priority?: number
  /** Message id; when omitted, a unique one (random per process, then a counter: about 14 characters). */
  messageId?: string
  /** Correlation id. */
  correlationId?: string
  /** Content type; inferred from the body when omitted. */
  contentType?: string
  /** Overrides the plugin's publishTimeout for this call, in milliseconds. */
  timeout?: number
}

/** What a confirmed publish resolves with. */
export interface PublishReceipt {
  /** The message id the message carries (given or generated). */
  messageId: string
}

/** Per-call options of request(). */
export interface RequestOptions {
  /** Milliseconds to wait for the reply; the request expires in the queue after the same time. @default 5000 */
  timeout?: number
  /** Exchange to publish the request to. @default the plugin's exchange */
  exchange?: string
  /** Application headers. */
  headers?: Record<string, unknown>
}

/** Per-call options of gather(). */
export interface GatherOptions {
  /** Milliseconds to collect replies; the request expires in the queues after the same time. @default 5000 */
  timeout?: number
  /**
   * When to stop before the deadline: after this many replies, or once every
   * service named here (by its `connectionName`) has replied. Without it,
   * gather() collects until the deadline.
   */
  expect?: number | string[]
  /** Exchange to publish the request to. @default the plugin's exchange */
  exchange?: string
  /** Application headers. */
  headers?: Record<string, unknown>
}

/**
 * What request() rejects with (and gather() reports in `failed`) when the
 * remote handler threw: `err.code === 'FST_AMQP_RPC_REMOTE_ERROR'`.
 */
export interface RemoteError extends Error {
  code: 'FST_AMQP_RPC_REMOTE_ERROR'
  statusCode: number
  /** The remote error's message and code, as the remote service sent them; `validation` when the request failed the remote consumer's schema. */
  remote: { message: string | undefined, code: string | undefined, validation?: unknown[] }
}

/** One reply gathered. */
export interface GatherReply<T = unknown> {
  /** The replying service's `connectionName` (the reply's app_id). */
  from: string
  /** The decoded reply. */
  body: T
}

/** A service whose handler failed: it replied with an error. */
export interface GatherFailure {
  /** The replying service's `connectionName` (the reply's app_id). */
  from: string
  /** FST_AMQP_RPC_REMOTE_ERROR (a RemoteError, with `remote`), FST_AMQP_DECODE for a reply that did not decode, or FST_AMQP_INVALID_REPLY for one that failed its schema. */
  error: RemoteError | Error
}

/** What gather() resolves with: whatever arrived in time. */
export interface GatherResult<T = unknown> {
  /** The replies, in the order they arrived. */
  replies: Array<GatherReply<T>>
  /** The error replies, in the order they arrived. */
  failed: GatherFailure[]
  /** The services named in `expect` that did not answer in time; empty when `expect` is a number or absent. */
  missing: string[]
  /** True when `expect` was met (counting error replies) before the deadline. */
  complete: boolean
}

/** Where a consumer sends its handler's result: the next stage of a pipeline. */
export interface NextStage {
  /** Routing key to publish the result with. */
  routingKey: string
  /** Exchange to publish to. @default the consumer's exchange */
  exchange?: string
}

/** A consumer's retry policy: waits of delay × factor^(n−1), capped at maxDelay, each moved by up to ±jitter of itself. */
export interface RetryOptions {
  /** Tries in all, the first delivery included (1–100); 1 means no retry. @default 3 */
  attempts?: number
  /** Wait before the second try, in milliseconds. @default 1000 */
  delay?: number
  /** Each later wait is this many times the one before (1–100). @default 2 */
  factor?: number
  /** The longest wait, in milliseconds. @default 60000 (or delay, if larger) */
  maxDelay?: number
  /** 0–1: each wait is shortened or lengthened at random by up to this share of itself. @default 0.2 */
  jitter?: number
}

/** Options of consume(). */
export interface ConsumeOptions {
  /**
   * Queue to consume from: durable, shared by every consumer that names it.
   * @default the routing key (so all instances of a service share one queue)
   */
  queue?: string
  /**
   * Arguments the queue is declared with, for what RabbitMQ configures per
   * queue: `{ 'x-max-length': 10000 }`, `{ 'x-max-age': '7D' }` (a
   * stream's retention), ... Prefer `queueType`, `deliveryLimit` and
   * `singleActiveConsumer` to their `x-` arguments: given both, they must
   * agree. A queue that exists with other arguments fails with
   * FST_AMQP_TOPOLOGY_MISMATCH.
   * @default none
   */
  queueArguments?: Record<string, unknown>
  /**
   * The queue's type. `'classic'` is declared without `x-queue-type`, as
   * before. `'quorum'`: a replicated queue that survives the loss of a node;
   * its wait queues and dead-letter queue are quorum queues too (the wait
   * queues dead-letter back at least once, `x-dead-letter-strategy:
   * at-least-once`), so no queue of the consumer lives on one node only.
   * `'stream'`: an append-only log that every consumer reads in full from
   * its `offset`, and that keeps messages after they are handled. A message
   * cannot be removed from a stream nor put back, so a stream consumer has no
   * wait queues and no dead-letter queue: a handler that throws is logged
   * (and its process span marked failed) and the consumer moves on to the
   * next message. An exclusive queue is always classic. An `x-queue-type` in
   * `queueArguments` must agree; alone, it sets the type.
   * @default the plugin's `queueType` ('classic'); 'classic' for an exclusive queue
   */
  queueType?: 'classic' | 'quorum' | 'stream'
  /**
   * Quorum queues only: how many times the broker may deliver a message
   * again after it came back unsettled (the consumer's channel or
   * connection was lost, the process crashed or was closed while the
   * handler ran), `x-delivery-limit`. Past it, the broker dead-letters the
   * message to this consumer's dead-letter queue (as is, with `x-death`
   * and `x-first-death-reason: 'delivery_limit'`, and without the
   * `x-warren-*` headers), or drops it when the consumer has none or its
   * `queueArguments` name their own `x-dead-letter-exchange`. The
   * dead-letter queue is then declared when the consumer starts. The
   * plugin's own retries (`retry`) do not count: a handler that throws is
   * acked and its copy comes back through a wait queue as a new message, so
   * `retry.attempts` is still what bounds those. A message that kills the
   * process, which `retry` never sees, is what this bounds.
   * @default none (RabbitMQ 3.x: unlimited; RabbitMQ 4.x: 20)
   */
  deliveryLimit?: number
  /**
   * One consumer of the queue at a time receives its messages, in order
   * (`x-single-active-consumer`); the others wait. When the active one goes
   * away (its app closes, its connection is lost, its process dies), the
   * messages it held go back to the queue and the next consumer takes over
   * from there. For strict order, keep `prefetch: 1`: with more, the active
   * consumer runs that many handlers at once. Every consumer of the queue
   * must set it: it is a queue argument. On closing, such a consumer does not
   * cancel before its handlers finish (which would hand the queue over while
   * they run): it stops taking new messages, waits, and closes, so the next
   * consumer starts exactly where it stopped. Not for exclusive queues nor
   * streams (RabbitMQ 3.10 has no single active consumer on streams).
   * @default false
   */
  singleActiveConsumer?: boolean
  /**
   * The consumer's priority (`x-priority`), from -1000 to 1000: while a
   * consumer of higher priority has room under its prefetch, the broker
   * gives it the queue's messages; consumers of lower priority get them only
   * when every higher one is full. Equal priorities share round-robin. Not
   * the priority of messages (publish's `priority`). Not for streams.
   * @default 0
   */
  priority?: number
  /**
   * Streams only: where a new consumer starts reading. `'first'`: the oldest
   * message the stream keeps; `'last'`: the last chunk written (a few of the
   * latest messages); `'next'`: only messages published after it starts; a
   * number: that offset; a Date: the first messages written at that second
   * or later (streams keep time by the second, and a chunk of messages by its
   * first, so a few before it may come too). Once running, the consumer
   * resumes after the last message it handled when its channel or connection
   * is restarted, rather than from this offset again; a process that
   * restarts begins again from this offset (keep your own offset to resume
   * across restarts).
   * @default 'next'
   */
  offset?: 'first' | 'last' | 'next' | number | Date
  /** A server-named, exclusive, auto-delete queue: every instance gets its own copy. @default false */
  exclusive?: boolean
  /** Exchange to bind the queue to. @default the plugin's exchange */
  exchange?: string
  /** Type of that exchange, declared durable if it does not exist. @default its type in the plugin's `exchanges` option, else 'topic' */
  exchangeType?: ExchangeType
  /** For a headers exchange: the headers to match. */
  headers?: Record<string, string | number | boolean>
  /** For a headers exchange: match all headers or any one. @default 'all' */
  match?: 'all' | 'any'
  /** Unacknowledged messages held at once, which is also how many handlers run at once. @default the plugin's prefetch */
  prefetch?: number
  /**
   * What happens when the handler throws (or a pipeline stage cannot pass its
   * result on): the message waits `delay` ms in a wait queue of the broker's
   * (`<queue>.retry.<n>`, which dead-letters it back to this queue only), then
   * is tried again, up to `attempts` tries in all; then it goes to the
   * dead-letter queue. An error with `retry: false` (see `noRetry()`) goes to
   * the dead-letter queue at once. `false` is `{ attempts: 1 }`.
   * Requests (messages with reply_to) are never retried: the error is the reply.
   * A stream consumer has no retries: only `false` is accepted there.
   * @default { attempts: 3, delay: 1000, factor: 2, maxDelay: 60000, jitter: 0.2 }
   */
  retry?: RetryOptions | false
  /**
   * Where a message goes when it will not be tried again, or when its body
   * does not decode: a durable queue, with the reason, the error, the attempts
   * and the original exchange and routing key in `x-warren-*` headers.
   * `true`: `<queue>.dlq`; a string: that queue; `false`: none, the message is
   * rejected (dead-lettered by the queue's own `x-dead-letter-exchange`, if it
   * has one, else dropped) and logged. An exclusive queue has none unless
   * named. A quorum consumer's is a quorum queue. A stream consumer has
   * none: only `false` is accepted there.
   * @default true (none for a stream)
   */
  deadLetter?: boolean | string
  /**
   * Makes the consumer a pipeline stage: the handler's return value is
   * published (persistent, mandatory, confirmed) with this routing key, and
   * only then is the message acked. The correlation id (or, without one, the
   * incoming message id) and the application headers are carried forward,
   * except those about one hop (`x-death`, `x-first-death-*`,
   * `x-last-death-*` and every `x-warren-*`). A handler that returns `undefined`
   * ends the message's journey there (`null` is forwarded). A request (a
   * message with reply_to) is answered, not forwarded. A routing key alone
   * publishes to the consumer's exchange. A definition (`defineMessage()`)
   * types the handler's return value from its schema and validates the
   * result before forwarding it: one that fails goes to the dead-letter queue
   * (reason `invalid-result`).
   */
  next?: string | NextStage | MessageDefinition
  /**
   * Schemas for the messages of a consumer given a routing key rather than a
   * definition, as a Fastify route's `schema`: the handler's `msg.body` (and
   * `msg.headers`) are typed from them, and a message that fails them is
   * dead-lettered (reason `invalid`) without calling the handler.
   */
  schema?: ConsumeSchema
}

/** Per-call schemas of a consumer. */
export interface ConsumeSchema {
  /** The body's schema: a Standard Schema or a JSON Schema. */
  body?: Schema
  /** The application headers' schema. */
  headers?: Schema
}

/**
 * The AMQP properties of a received message, as the sender set them (the
 * broker's own fields aside). An absent one is `undefined`. Whoever
 * published the message chose them: the plugin acts on none without checking.
 */
export interface MessageProperties {
  contentType: string | undefined
  contentEncoding: string | undefined
  /** The raw headers table, as `msg.headers` less nothing. */
  headers: Record<string, any> | undefined
  /** 2 for persistent, 1 (or absent) for transient. */
  deliveryMode: number | undefined
  priority: number | undefined
  correlationId: string | undefined
  replyTo: string | undefined
  /** The per-message TTL in milliseconds, as a string. */
  expiration: string | undefined
  messageId: string | undefined
  /** Seconds since the epoch. */
  timestamp: number | undefined
  type: string | undefined
  userId: string | undefined
  appId: string | undefined
  clusterId: string | undefined
}

/** A message as a handler receives it. */
export interface WarrenMessage<T = unknown, H = Record<string, any>> {
  /**
   * The decoded body: parsed JSON, a string for text/*, a Buffer otherwise;
   * with a schema, the validated value (typed from the schema). `unknown`
   * without one: give a schema, or the type (`WarrenMessage<Order>`).
   */
  body: T
  /** The raw body bytes. */
  content: Buffer
  routingKey: string
  exchange: string
  /** The application headers (and the broker's): with a headers schema, validated and typed. */
  headers: H
  /** The AMQP properties the message arrived with. */
  properties: MessageProperties
  /** True when the broker delivered this message before (to this or another consumer). */
  redelivered: boolean
  /**
   * This try's number: 1 for the first, 2 after one failure and a wait, and
   * so on (see the consumer's `retry`). A redelivery after a crash or a lost
   * connection is not counted: check `redelivered` and the message id for those.
   */
  attempt: number
  /**
   * A child of the plugin's logger for this message, like Fastify's
   * `request.log`: every line carries the message id, correlation id,
   * routing key, queue and attempt, and the trace and span ids when the
   * delivery is traced. The plugin's own lines about the message use it.
   */
  readonly log: FastifyBaseLogger
}

/**
 * A consumer handler. Resolve to acknowledge; throw to reject. For a request,
 * the resolved value is the reply and a throw becomes FST_AMQP_RPC_REMOTE_ERROR
 * at the requester. `this` is the Fastify instance that registered the consumer.
 */
export type MessageHandler<T = unknown, R = unknown, H = Record<string, any>> = (this: FastifyInstance, msg: WarrenMessage<T, H>) => R | Promise<R>

/** A running (or starting) consumer. */
export interface Consumer {
  /** The queue it consumes from (the server's name for an exclusive queue once started). */
  readonly queue: string
  /** Resolves once the consumer receives messages; rejects if its topology cannot be declared. */
  ready (): Promise<void>
  /** Stops receiving, waits for handlers in flight, closes its channel. Safe to call twice. */
  cancel (): Promise<void>
}

/** One consumer, as health() reports it. */
export interface ConsumerHealth {
  /** Its queue (the server's name for an exclusive one, once started). */
  queue: string
  /** Whether it receives messages now. */
  running: boolean
  /** Why it does not: 'starting', 'the connection is down', 'its setup failed; trying again' or 'cancelled'. */
  reason?: string
  /** The error its last setup failed with, until one succeeds. */
  error?: { code: string | undefined, message: string }
  /** A stream consumer's: the offset of the last message it handled, once it has handled one. */
  offset?: number
  /** A stream consumer's: how many messages its handler failed on (logged and passed over: a stream has no retries). */
  failed?: number
}

/** What health() reports, for a readiness route. */
export interface Health {
  /**
   * 'ok': connected, not blocked, publishes acked, every consumer
   * receiving. 'degraded': connected, but the broker blocks publishers
   * (memory or disk alarm), nacks every publish (see `publishing`) or a
   * consumer is not receiving. 'down': no connection (reconnecting) or closed.
   */
  status: 'ok' | 'degraded' | 'down'
  /** Both connections to the broker (publishing and consuming) are open. */
  connected: boolean
  /** The broker blocks this connection's publishers (memory or disk alarm); publishes wait. */
  blocked: boolean
  /** The consumers registered and not cancelled, how many of them are receiving now, and each one's state. */
  consumers: { total: number, running: number, list: ConsumerHealth[] }
  /** Publishes (and requests) held in memory until the connection is back or the broker unblocks. */
  buffered: number
  /**
   * 'nacked': the broker has nacked every publish for more than 2 seconds
   * (each one rejected with FST_AMQP_PUBLISH_NACKED), so the publishing
   * channel was reopened (and is reopened every 2 seconds while it lasts).
   * Back to 'ok' once a publish is acked. A queue that refuses publishes
   * (x-overflow reject-publish) when full does this too, if nothing else is
   * published meanwhile.
   */
  publishing: 'ok' | 'nacked'
}

/** A message body as a definition's schema types it for sending. */
export type BodyIn<D, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> = D extends { body: infer S } ? InputOf<S, TP> : unknown
/** A message body as a definition's schema types it once received and validated. */
export type BodyOut<D, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> = D extends { body: infer S } ? OutputOf<S, TP> : unknown
/** A request definition's reply, as the consumer that serves it must return it. */
export type ReplyIn<D, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> = D extends { reply: infer S } ? InputOf<S, TP> : unknown
/** A request definition's reply, as request() resolves with it. */
export type ReplyOut<D, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> = D extends { reply: infer S } ? OutputOf<S, TP> : unknown
/** The headers a definition's (or a per-call) schema gives a received message; any others are there too. */
export type HeadersOut<S, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> = [S] extends [undefined] ? Record<string, any> : OutputOf<S, TP> & Record<string, unknown>
/** The headers a definition's schema asks of a message sent. */
export type HeadersIn<S, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> = [S] extends [undefined] ? Record<string, unknown> : InputOf<S, TP>

/** publish() options for a definition: its headers typed from its schema. */
export type DefinedPublishOptions<D extends Definition, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> = Omit<PublishOptions, 'headers'> & { headers?: HeadersIn<D['headers'], TP> }
/** request() options for a definition. */
export type DefinedRequestOptions<D extends Definition, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> = Omit<RequestOptions, 'headers'> & { headers?: HeadersIn<D['headers'], TP> }
/** gather() options for a definition. */
export type DefinedGatherOptions<D extends Definition, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> = Omit<GatherOptions, 'headers'> & { headers?: HeadersIn<D['headers'], TP> }

/**
 * consume() options without `schema` (a definition brings its own); a `next`
 * definition goes through the overload that types the handler's result by it.
 */
export type DefinedConsumeOptions = Omit<ConsumeOptions, 'schema' | 'next'> & { next?: string | (NextStage & { readonly [DEFINITION]?: never }) }

/** The handler of a definition's consumer: typed body and headers; for a request, the reply's type to return. */
export type DefinedHandler<D extends Definition, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> =
  D extends RequestDefinition
    ? (this: FastifyInstance, msg: WarrenMessage<BodyOut<D, TP>, HeadersOut<D['headers'], TP>>) => ReplyIn<D, TP> | Promise<ReplyIn<D, TP>>
    : (this: FastifyInstance, msg: WarrenMessage<BodyOut<D, TP>, HeadersOut<D['headers'], TP>>) => unknown

/** A pipeline stage's handler between two definitions: it returns the next stage's body (or undefined, to end the message there). */
export type StageHandler<D extends Definition, N extends MessageDefinition, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> =
  (this: FastifyInstance, msg: WarrenMessage<BodyOut<D, TP>, HeadersOut<D['headers'], TP>>) => BodyIn<N, TP> | undefined | Promise<BodyIn<N, TP> | undefined>

/** The handler of a consumer with a per-call `schema`. */
export type SchemaHandler<S extends ConsumeSchema, R, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> =
  (this: FastifyInstance, msg: WarrenMessage<S extends { body: infer B } ? OutputOf<B, TP> : unknown, HeadersOut<S extends { headers: infer H } ? H : undefined, TP>>) => R | Promise<R>

/** An AsyncAPI 3.0 document, as a plain object. */
export interface AsyncApiDocument {
  asyncapi: '3.0.0'
  info: { title: string, version: string, description?: string }
  [key: string]: unknown
}

/** A validation error, as in `err.validation` of FST_AMQP_INVALID_MESSAGE and FST_AMQP_INVALID_REPLY. */
export type { ValidationIssue }

/**
 * The `app.amqp` decorator. Its types follow the Fastify instance's type
 * provider (`app.withTypeProvider<...>()`), which types plain JSON Schemas.
 */
export interface Amqp<TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault> {
  /** Publishes a defined message: its body is typed and validated before it is sent; resolves once the broker confirms it. */
  publish<const D extends MessageDefinition> (definition: D, body: BodyIn<D, TypeProvider>, options?: DefinedPublishOptions<D, TypeProvider>): Promise<PublishReceipt>
  /** Publishes a message; resolves once the broker confirms it. */
  publish<T = unknown> (routingKey: string, body: T, options?: PublishOptions): Promise<PublishReceipt>
  /** Sends a defined request and resolves with its reply, validated and typed. */
  request<const D extends RequestDefinition> (definition: D, body: BodyIn<D, TypeProvider>, options?: DefinedRequestOptions<D, TypeProvider>): Promise<ReplyOut<D, TypeProvider>>
  /** Sends a request and resolves with the decoded reply. */
  request<Res = unknown, Req = unknown> (routingKey: string, body: Req, options?: RequestOptions): Promise<Res>
  /**
   * Scatter-gather: publishes one request to every queue bound to the routing
   * key and collects replies until `expect` is met or `timeout` passes, then
   * resolves with what arrived and who is missing. It also resolves early,
   * with what it has, if the connection is lost or the app closes. It rejects
   * only when the request could not be sent: FST_AMQP_UNROUTABLE when no queue
   * is bound, FST_AMQP_RPC_TIMEOUT when it was not even sent by the deadline
   * (no connection), or the publish error. With a definition, every reply is
   * validated (one that fails is in `failed`).
   */
  gather<const D extends RequestDefinition> (definition: D, body: BodyIn<D, TypeProvider>, options?: DefinedGatherOptions<D, TypeProvider>): Promise<GatherResult<ReplyOut<D, TypeProvider>>>
  gather<Res = unknown, Req = unknown> (routingKey: string, body: Req, options?: GatherOptions): Promise<GatherResult<Res>>
  /** The connection's and consumers' state now, for a readiness or health route. */
  health (): Health
  /** This service's AsyncAPI 3.0 document: its server, what it consumes, and what it publishes (see the `publishes` option). */
  asyncapi (): AsyncApiDocument
  /**
   * Consumes a defined message or request: the body (and headers) are
   * validated before the handler runs, and typed; a request's handler must
   * return its reply's type. Starts when the app is ready (at once if it is).
   */
  consume<const D extends MessageDefinition, const N extends MessageDefinition> (definition: D, handler: StageHandler<D, N, TypeProvider>, options: Omit<DefinedConsumeOptions, 'next'> & { next: N }): Consumer
  consume<const D extends MessageDefinition, const N extends MessageDefinition> (definition: D, options: Omit<DefinedConsumeOptions, 'next'> & { next: N }, handler: StageHandler<D, N, TypeProvider>): Consumer
  consume<const D extends Definition> (definition: D, handler: DefinedHandler<D, TypeProvider>, options?: DefinedConsumeOptions): Consumer
  consume<const D extends Definition> (definition: D, options: DefinedConsumeOptions, handler: DefinedHandler<D, TypeProvider>): Consumer
  /** Consumes with per-call schemas (`options.schema`), as a Fastify route: `msg.body` is typed and validated. */
  consume<const S extends ConsumeSchema, R = unknown> (routingKey: string | string[], handler: SchemaHandler<S, R, TypeProvider>, options: ConsumeOptions & { schema: S }): Consumer
  consume<const S extends ConsumeSchema, R = unknown> (routingKey: string | string[], options: ConsumeOptions & { schema: S }, handler: SchemaHandler<S, R, TypeProvider>): Consumer
  /** Registers a consumer; it starts when the app is ready (at once if it already is). `msg.body` is `unknown` unless typed. */
  consume<T = unknown, R = unknown> (routingKey: string | string[], handler: MessageHandler<T, R>, options?: ConsumeOptions): Consumer
  consume<T = unknown, R = unknown> (routingKey: string | string[], options: ConsumeOptions, handler: MessageHandler<T, R>): Consumer
}

/**
 * The named registrations (the `name` option), declared by the app so that
 * `app.amqp.<name>` is typed: each key is a name, its value is not used.
 *
 * @example
 * declare module 'fastify-warren' {
 *   interface AmqpRegistrations { events: true }
 * }
 * await app.register(warren, { url: eventsUrl, name: 'events' })
 * await app.amqp.events.publish('order.created', order)
 */
export interface AmqpRegistrations {}

/**
 * The type of the `app.amqp` decorator: the default registration's API, and
 * each named registration's (declared in {@link AmqpRegistrations}) under its name.
 */
export type AmqpDecorator<TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault> =
  Amqp<TypeProvider> & { readonly [K in keyof AmqpRegistrations]: Amqp<TypeProvider> }

declare module 'fastify' {
  // The same type parameters as Fastify's declaration (merging requires it); only the type provider is used here.
  /* eslint-disable @typescript-eslint/no-unused-vars */
  interface FastifyInstance<
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    Logger extends FastifyBaseLogger = FastifyBaseLogger,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault
  > {
    amqp: AmqpDecorator<TypeProvider>
  }
  /* eslint-enable @typescript-eslint/no-unused-vars */
}

/**
 * The options of `createWarren()`: every option of the Fastify plugin, and a
 * logger, since there is no Fastify to lend one.
 */
export interface WarrenClientOptions extends WarrenOptions {
  /**
   * A pino-compatible logger (debug, info, warn, error; child() is used when
   * it has one). Every line carries `plugin: 'amqp'`.
   * @default none: nothing is logged
   */
  logger?: {
    debug (obj: object, msg?: string): void
    info (obj: object, msg?: string): void
    warn (obj: object, msg?: string): void
    error (obj: object, msg?: string): void
    child? (bindings: Record<string, unknown>): unknown
  }
}

/**
 * The client made by `createWarren()`: the same API as `app.amqp`, with its
 * own lifecycle, for workers, Express apps and Fastify apps that share it.
 */
export interface WarrenClient extends Amqp {
  /**
   * Connects, declares, and starts every consumer registered so far (later
   * ones start at once). Rejects with the same coded errors as the plugin's
   * `ready()`: FST_AMQP_CONNECT_TIMEOUT, FST_AMQP_ACCESS_REFUSED... A second
   * call returns the first one's promise.
   */
  start (): Promise<void>
  /**
   * Shuts down as the plugin's close does, in the same order: cancels the
   * consumers (they stop receiving), lets handlers in flight finish and ack,
   * waits for outstanding confirms (within closeTimeout), then closes the
   * connections. Safe to call twice; afterwards publish() rejects with
   * FST_AMQP_CLOSED. It installs no signal handler: call it from yours.
   */
  close (): Promise<void>
}
