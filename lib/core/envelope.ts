import type { ConsumeMessage, Options } from 'amqplib'
import { decode, encode, JSON_TYPE } from './codec'
import { FST_AMQP_DECODE, FST_AMQP_HEADERS_TOO_LARGE, FST_AMQP_INVALID_HEADER, FST_AMQP_MESSAGE_TOO_LARGE, FST_AMQP_RPC_REMOTE_ERROR } from './errors'
import { headerSizes, MAX_TABLE_BYTES, measureTable } from './headers'
import { uniqueId } from './ids'
import { topicMatches } from './topic'
import { NO_TRACE, type DeliveryTrace } from '../telemetry/telemetry'
import type { Log } from './log'
import { Message } from './message'
import type { ExchangeType, WarrenMessage } from './types'

/*
 * The message boundary. Every message the plugin sends is built here
 * (properties, ids, timestamp, app id, content type, the x-warren-* headers)
 * and checked here (body and header sizes, headers amqplib can encode) in
 * seal(), before it enters any buffer. Every delivery becomes a `msg` here,
 * in open(), which trusts nothing the producer could have set: the plugin's
 * own headers count only on a message that really came back from one of the
 * consumer's wait queues, and only once parsed and checked.
 */

/** @internal Headers fastify-warren sets on the copies it moves to a wait queue or the dead-letter queue. */
export const HEADERS = {
  /** Failed attempts so far. */
  attempts: 'x-warren-attempts',
  reason: 'x-warren-reason',
  errorMessage: 'x-warren-error-message',
  errorCode: 'x-warren-error-code',
  /** The queue it failed in. */
  queue: 'x-warren-queue',
  /** Where it was first published: the handler sees these, not the wait queue's. */
  exchange: 'x-warren-exchange',
  routingKey: 'x-warren-routing-key',
  failedAt: 'x-warren-failed-at',
  /** What was cut from a copy so that it could be sent at all (comma-separated header names). */
  trimmed: 'x-warren-trimmed',
  /** Why a message failed its schema: its validation errors, as JSON (at most 2000 characters). */
  validation: 'x-warren-validation'
} as const

/** @internal Header that marks a reply as the remote handler's error. */
export const ERROR_HEADER = 'x-warren-error'

/** RabbitMQ's direct reply-to pseudo-queue. */
export const REPLY_TO = 'amq.rabbitmq.reply-to'

/** Headers the broker or this plugin set about one hop (dead-lettering, retries, error replies), not carried to a pipeline's next stage. */
const HOP_HEADERS = /^x-(death|first-death-|last-death-|warren-)/

/** The broker's dead-lettering headers. */
const DEATH_HEADERS = /^x-(death|first-death-|last-death-)/

/**
 * @internal
 * The header the publisher adds to tell apart two returns of messages with
 * the same id. It is the publisher's alone: removed from whatever else builds
 * a message, so nobody can make a return look like another publish's.
 */
export const TOKEN_HEADER = 'x-warren-publish'

/** @internal Where the guard (amqplib-guard.ts) puts headers amqplib could not decode. */
export const UNDECODABLE_HEADERS = 'x-warren-undecodable-headers'

/** The prefix of direct reply-to addresses: RabbitMQ returns a mandatory message sent to one even when it is delivered. */
const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to'

/** Room kept free in the header table for the publisher's own token header (see publisher.ts). */
const TOKEN_ROOM = 64

/** Room kept in a frame for the properties other than headers (ten short strings at most, and fixed fields). */
const OTHER_PROPERTIES = 4096

/** How much of an error message a copy carries in x-warren-error-message. */
const ERROR_MESSAGE_MAX = 1000

/** The most characters x-warren-trimmed lists. */
const TRIMMED_MAX = 1000

/**
 * @internal
 * On a confirm channel a mandatory message needs a message id: it is how a
 * basic.return is matched to its publish, so every message built here for
 * the confirm channel (publish, forward, copies) has one. Requests and
 * replies, on plain channels, go without one.
 */
export type PublishProperties = Options.Publish & { messageId?: string }

/** @internal Where an outgoing message was built. */
export type OutgoingKind = 'publish' | 'request' | 'reply' | 'error-reply' | 'forward' | 'retry' | 'dead-letter'

/** @internal A message ready to go: checked, with the bytes it holds while it waits. */
export interface Outgoing {
  kind: OutgoingKind
  exchange: string
  routingKey: string
  content: Buffer
  props: PublishProperties
  /** Body plus encoded headers: what it costs a buffer to hold it. */
  bytes: number
  /** Its message id was made here, for it alone (no other message in flight can have it). */
  freshId: boolean
}

/** @internal What open() needs to know of the consumer a delivery came to. */
export interface ConsumerView {
  queue: string
  exchange: string
  exchangeType: ExchangeType
  /** Its binding keys (patterns, for a topic exchange). */
  routingKeys: string[]
  /** Whether `name` is one of this consumer's wait queues. */
  isWaitQueue: (name: string) => boolean
  /** The consumer's logger: `msg.log` is a child of it. */
  log: Log
}

/** @internal A delivery, read: the handler's `msg`, and what the consumer needs to settle it. */
export interface Delivery {
  raw: ConsumeMessage
  msg: WarrenMessage
  /** The try number (1 unless it really came back from a wait queue). */
  attempt: number
  /** Where to reply, if it is a request. */
  replyTo: string | undefined
  correlationId: string | undefined
  messageId: string | undefined
  /** Set when the body did not decode: the handler must not see it. */
  decodeError?: Error
  /** What the consumer tells the trace of this delivery (a no-op unless traced). */
  trace: DeliveryTrace
}

/** @internal Why a message failed, as its copy records it. */
export interface Failure {
  reason: string
  attempt: number
  error: unknown
}

/** @internal */
export interface EnvelopeOptions {
  /** app_id of every message the plugin makes (the service's name). */
  appId: string
  /** The plugin's maxMessageSize. */
  maxMessageSize: number
  /** The broker's max_message_size, once the broker has refused a body for it. */
  brokerMaxMessageSize: () => number | undefined
  /** The negotiated frame size of the publishing connection. */
  frameMax: () => number
}

/** @internal A hook that sees every outgoing message once it is built and checked. */
export type OutgoingHook = (message: Outgoing) => void
/** @internal A hook that sees every delivery once it is read, before its handler runs. */
export type IncomingHook = (delivery: Delivery) => void

/** @internal Seconds since the epoch: AMQP's timestamp. */
function now (): number {
  return Math.floor(Date.now() / 1000)
}

/**
 * @internal
 * An error's message and code, as strings, whatever was thrown: never
 * throws, even for an object whose getters do.
 */
export function describeError (err: unknown): { message: string, code: string | undefined } {
  let message: string
  let code: string | undefined
  try {
    const m = (err as { message?: unknown } | null | undefined)?.message
    message = typeof m === 'string' ? m : String(m ?? err)
  } catch {
    message = 'an error whose message could not be read'
  }
  try {
    const c = (err as { code?: unknown } | null | undefined)?.code
    code = c === undefined || c === null ? undefined : String(c)
  } catch {
    code = undefined
  }
  return { message, code }
}

/**
 * @internal
 * A plain Error standing for whatever was thrown, safe to log and to keep as
 * a cause: a logger reading a hostile error's getters would throw too.
 */
export function safeError (err: unknown): Error {
  const { message, code } = describeError(err)
  const copy = new Error(message)
  try {
    const stack = (err as { stack?: unknown } | null | undefined)?.stack
    if (typeof stack === 'string') copy.stack = stack
  } catch {}
  return code === undefined ? copy : Object.assign(copy, { code })
}

/** @internal Whether the handler marked its error as not worth another try (see `noRetry`). */
export function isRetryable (err: unknown): boolean {
  try {
    return !(err !== null && typeof err === 'object' && (err as { retry?: unknown }).retry === false)
  } catch {
    return true
  }
}

/** A failure's validation errors as JSON, at most 2000 characters, if it has them. */
function validationOf (err: unknown): string | undefined {
  try {
    const issues = (err as { validation?: unknown } | null)?.validation
    if (!Array.isArray(issues)) return undefined
    const json = JSON.stringify(issues.slice(0, 10))
    return json.length <= 2000 ? json : json.slice(0, 1999) + '…'
  } catch {
    return undefined
  }
}

/** The names in `names`, comma-separated, at most TRIMMED_MAX characters (then how many more). */
function listOf (names: string[]): string {
  let list = ''
  for (let i = 0; i < names.length; i++) {
    const next = list === '' ? names[i] : `${list},${names[i]}`
    if (next.length > TRIMMED_MAX - 16) return `${list},…+${names.length - i}`
    list = next
  }
  return list
}

/** @internal `value` if it is a string AMQP can carry as a short string (at most 255 bytes), else undefined. */
export function shortString (value: unknown): string | undefined {
  return typeof value === 'string' && (value.length <= 85 || Buffer.byteLength(value) <= 255) ? value : undefined
}

/**
 * @internal
 * A delivery's headers as a plain object of its own keys. amqplib decodes a
 * header named `__proto__` into the object's prototype, which would make
 * forged values look like headers: such a header becomes an ordinary key.
 */
export function ownHeaders (headers: Record<string, unknown> | undefined): Record<string, any> {
  if (headers === undefined || headers === null) return {}
  const proto = Object.getPrototypeOf(headers)
  if (proto === Object.prototype) return headers
  const own: Record<string, unknown> = {}
  for (const key of Object.keys(headers)) own[key] = headers[key]
  if (proto !== null) Object.defineProperty(own, '__proto__', { value: proto, enumerable: true, writable: true, configurable: true })
  return own
}

/**
 * Outgoing headers as a plain object the caller can no longer change, the
 * publisher's token and undefined values left out, the `__proto__` key kept
 * as a key.
 */
function snapshot (headers: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = {}
  for (const key in headers) {
    const value = headers[key]
    if (value === undefined || key === TOKEN_HEADER) continue
    if (key === '__proto__') Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true })
    else copy[key] = value
  }
  return copy
}

/** @internal An x-warren-attempts value, if it is one: a whole number of at least 1. */
export function attemptsHeader (value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 ? value : undefined
}

/**
 * @internal
 * Whether a delivery came back from one of this consumer's wait queues, told
 * from the delivery: the broker dead-letters it through the default exchange
 * with the consumer's queue as routing key, and its newest x-death entry says
 * it expired in a wait queue of this consumer.
 */
export function fromWaitQueue (raw: ConsumeMessage, view: ConsumerView): boolean {
  if (raw.fields.exchange !== '' || raw.fields.routingKey !== view.queue) return false
  const headers = raw.properties.headers
  const deaths: unknown = headers && Object.hasOwn(headers, 'x-death') ? headers['x-death'] : undefined
  if (!Array.isArray(deaths) || deaths.length === 0) return false
  const newest = deaths[0] as { reason?: unknown, queue?: unknown } | null
  return newest !== null && typeof newest === 'object' && Object.hasOwn(newest, 'reason') && Object.hasOwn(newest, 'queue') &&
    newest.reason === 'expired' && typeof newest.queue === 'string' && view.isWaitQueue(newest.queue)
}

/** Whether a message published with `routingKey` to the consumer's exchange would have reached its queue. */
function couldRoute (view: ConsumerView, routingKey: string): boolean {
  if (view.exchangeType === 'topic') return view.routingKeys.some((pattern) => topicMatches(pattern, routingKey))
  if (view.exchangeType === 'direct') return view.routingKeys.includes(routingKey)
  return true // fanout and headers exchanges do not route on the key
}

/**
 * @internal
 * Where a delivery was first published: its own exchange and routing key,
 * unless it came back from a wait queue and its recorded origin is one the
 * consumer's bindings would have routed.
 */
export function originOf (raw: ConsumeMessage, view: ConsumerView, returned: boolean): { exchange: string, routingKey: string } {
  const own = { exchange: raw.fields.exchange, routingKey: raw.fields.routingKey }
  if (!returned) return own
  const h = ownHeaders(raw.properties.headers)
  const exchange: unknown = h[HEADERS.exchange]
  const routingKey: unknown = h[HEADERS.routingKey]
  if (typeof exchange !== 'string' || typeof routingKey !== 'string' || Buffer.byteLength(routingKey) > 255) return own
  if (exchange === '') return routingKey === view.queue ? { exchange, routingKey } : own
  if (exchange !== view.exchange || !couldRoute(view, routingKey)) return own
  return { exchange, routingKey }
}

/** Application headers to carry to a pipeline's next stage: all but those about one hop. */
function forwardHeaders (headers: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!headers) return undefined
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_HEADERS.test(name)))
}

/**
 * The original's headers for a copy: all but the plugin's own (a copy gets
 * fresh ones) and the broker's dead-lettering records. Those go because the
 * copy is a new message: a dead-letter copy moved back to its queue later is
 * then a fresh first attempt, not one that seems to return from a wait
 * queue; and because RabbitMQ 3.10 crashes a queue that dead-letters a
 * message whose x-death it did not write itself, losing what waits in it.
 */
function copyHeaders (headers: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = {}
  for (const key of Object.keys(headers)) {
    if (DEATH_HEADERS.test(key) || key.startsWith('x-warren-')) continue
    if (key === '__proto__') Object.defineProperty(copy, key, { value: headers[key], enumerable: true, writable: true, configurable: true })
    else copy[key] = headers[key]
  }
  return copy
}

/**
 * @internal
 * Builds, checks and reads messages. One per plugin instance; its limits
 * follow the connection (frame size) and what the broker has refused.
 */
export class Envelope {
  /** Seen by every outgoing message once built and checked: where validation and tracing hang. */
  readonly outgoingHooks: OutgoingHook[] = []
  /** Seen by every delivery once read, before its handler. */
  readonly incomingHooks: IncomingHook[] = []

  constructor (private readonly opts: EnvelopeOptions) {}

  /** The largest body that may be sent now, and whose limit that is. */
  private bodyLimit (): { bytes: number, name: string } {
    const broker = this.opts.brokerMaxMessageSize()
    if (broker !== undefined && broker < this.opts.maxMessageSize) return { bytes: broker, name: 'the broker\'s max_message_size' }
    return { bytes: this.opts.maxMessageSize, name: 'maxMessageSize' }
  }

  /** The most bytes of headers a message may carry: amqplib's encoding buffer, and the frame. */
  maxHeaderBytes (): number {
    return Math.min(MAX_TABLE_BYTES, this.opts.frameMax() - OTHER_PROPERTIES) - TOKEN_ROOM
  }

  /**
   * The check every outgoing message passes, once: its body within the size
   * limits, its headers encodable and within bounds. Throws a coded error
   * naming what is wrong; nothing is sent then.
   */
  private seal (kind: OutgoingKind, exchange: string, routingKey: string, content: Buffer, props: PublishProperties, checkBody = true, freshId = false): Outgoing {
    if (checkBody) {
      const broker = this.opts.brokerMaxMessageSize()
      if (content.length > this.opts.maxMessageSize || (broker !== undefined && content.length > broker)) {
        const limit = this.bodyLimit()
        throw new FST_AMQP_MESSAGE_TOO_LARGE(content.length, limit.bytes, limit.name)
      }
    }
    if (props.headers !== undefined) props.headers = this.snapshotHeaders(props.headers)
    const headerBytes = props.headers === undefined ? 0 : this.headerBytes(props.headers)
    const message: Outgoing = { kind, exchange, routingKey, content, props, bytes: content.length + headerBytes, freshId }
    for (const hook of this.outgoingHooks) hook(message)
    return message
  }

  /** snapshot(), with whatever reading the headers throws turned into FST_AMQP_INVALID_HEADER. */
  private snapshotHeaders (headers: Record<string, unknown>): Record<string, unknown> {
    try {
      return snapshot(headers)
    } catch (err) {
      measureTable(headers) // throws the coded error naming the header, if reading throws again
      throw Object.assign(new FST_AMQP_INVALID_HEADER('', `reading the headers threw: ${describeError(err).message}`), { header: '' })
    }
  }

  /** The encoded size of `headers`; throws FST_AMQP_INVALID_HEADER or FST_AMQP_HEADERS_TOO_LARGE. */
  headerBytes (headers: Record<string, unknown>): number {
    const bytes = measureTable(headers)
    const max = this.maxHeaderBytes()
    if (bytes > max) {
      const [largest] = headerSizes(headers)
      throw Object.assign(new FST_AMQP_HEADERS_TOO_LARGE(bytes, max, largest[0]), { header: largest[0] })
    }
    return bytes
  }

  /** publish(): persistent and mandatory by default, with a message id. */
  publish (exchange: string, routingKey: string, body: unknown, o: {
    mandatory: boolean
    persistent: boolean
    headers: Record<string, unknown> | undefined
    expiration: string | undefined
    priority: number | undefined
    messageId: string | undefined
    correlationId: string | undefined
    contentType: string | undefined
  }): Outgoing {
    const encoded = encode(body)
    const fresh = o.messageId === undefined
    return this.seal('publish', exchange, routingKey, encoded.content, {
      messageId: fresh ? uniqueId() : o.messageId,
      correlationId: o.correlationId,
      contentType: o.contentType ?? encoded.contentType,
      headers: o.headers,
      persistent: o.persistent,
      expiration: o.expiration,
      priority: o.priority,
      mandatory: o.mandatory,
      timestamp: now(),
      appId: this.opts.appId
    }, true, fresh)
  }

  /**
   * A request over direct reply-to. No message id: the correlation id is its
   * identity. It expires with its timeout, so one nobody took in time is
   * dropped by the broker, not executed late.
   */
  request (exchange: string, routingKey: string, body: unknown, correlationId: string, timeout: number, headers: Record<string, unknown> | undefined): Outgoing {
    const encoded = encode(body)
    return this.seal('request', exchange, routingKey, encoded.content, {
      correlationId,
      replyTo: REPLY_TO,
      contentType: encoded.contentType,
      timestamp: now(),
      headers,
      expiration: String(timeout),
      persistent: false,
      mandatory: true,
      appId: this.opts.appId
    })
  }

  /**
   * The reply to a request: its handler's result (undefined as null).
   * Mandatory unless it goes to a direct reply-to address (which RabbitMQ
   * returns even when it delivers it), so a reply_to that names no queue
   * comes back and is logged. Throws what encoding or the checks throw: the
   * caller sends an error reply.
   */
  reply (replyTo: string, correlationId: string | undefined, result: unknown): Outgoing {
    const encoded = encode(result === undefined ? null : result)
    return this.seal('reply', '', replyTo, encoded.content, {
      correlationId,
      contentType: encoded.contentType,
      persistent: false,
      mandatory: !replyTo.startsWith(DIRECT_REPLY_TO),
      timestamp: now(),
      appId: this.opts.appId
    })
  }

  /**
   * An error reply: `{"error": {message, code}}` and the x-warren-error
   * header; `validation` too (at most ten issues) for a request that failed
   * its schema.
   */
  errorReply (replyTo: string, correlationId: string | undefined, err: unknown): Outgoing {
    const { message, code } = describeError(err)
    const issues = (err as { validation?: unknown } | null)?.validation
    const error = {
      message: message.slice(0, ERROR_MESSAGE_MAX),
      code: code?.slice(0, 255),
      validation: Array.isArray(issues) ? issues.slice(0, 10) : undefined
    }
    return this.seal('error-reply', '', replyTo, Buffer.from(JSON.stringify({ error })), {
      correlationId,
      contentType: JSON_TYPE,
      headers: { [ERROR_HEADER]: error.code ?? 'Error' },
      persistent: false,
      mandatory: !replyTo.startsWith(DIRECT_REPLY_TO),
      timestamp: now(),
      appId: this.opts.appId
    })
  }

  /**
   * A pipeline stage's result for the next stage: a new message id, the
   * correlation id (or the incoming message id) carried on, and the
   * application headers less those about one hop.
   */
  forward (delivery: Delivery, next: { exchange: string, routingKey: string }, result: unknown, trace?: Record<string, unknown>): Outgoing {
    const encoded = encode(result)
    const carried = forwardHeaders(ownHeaders(delivery.raw.properties.headers))
    return this.seal('forward', next.exchange, next.routingKey, encoded.content, {
      messageId: uniqueId(),
      correlationId: delivery.correlationId ?? delivery.messageId,
      contentType: encoded.contentType,
      // The stage's own trace context replaces the one the message came with.
      headers: trace === undefined ? carried : { ...carried, ...trace },
      persistent: true,
      mandatory: true,
      timestamp: now(),
      appId: this.opts.appId
    })
  }

  /**
   * The copy of a failed message that goes to a wait queue (tried again after
   * `delay`) or to the dead-letter queue: the original's body and properties,
   * with the failure in x-warren-* headers. user_id is dropped (the broker
   * refuses one that is not the connection's user) and so is the original
   * expiration. When the headers would be too large, what the plugin adds is
   * shortened first, then the original's largest headers are dropped, and
   * x-warren-trimmed names what was cut: a copy can always be sent.
   */
  copy (delivery: Delivery, view: ConsumerView, to: { queue: string, delay?: number }, failure: Failure): Outgoing {
    const raw = delivery.raw
    const p = raw.properties
    const returned = fromWaitQueue(raw, view)
    const where = originOf(raw, view, returned)
    const { message, code } = describeError(failure.error)
    const received = ownHeaders(p.headers)
    const original = copyHeaders(received)
    // What an earlier copy of this message had to cut stays on record.
    const cutBefore = returned ? received[HEADERS.trimmed] : undefined
    const ours: Record<string, unknown> = {
      [HEADERS.attempts]: failure.attempt,
      [HEADERS.reason]: failure.reason,
      [HEADERS.errorMessage]: message.slice(0, ERROR_MESSAGE_MAX),
      [HEADERS.queue]: view.queue,
      [HEADERS.exchange]: where.exchange,
      [HEADERS.routingKey]: where.routingKey,
      [HEADERS.failedAt]: new Date().toISOString()
    }
    if (code !== undefined) ours[HEADERS.errorCode] = code.slice(0, 255)
    const validation = validationOf(failure.error)
    if (validation !== undefined) ours[HEADERS.validation] = validation
    const headers = this.fitCopyHeaders(original, ours, typeof cutBefore === 'string' && cutBefore !== '' ? cutBefore.split(',') : [])
    const wait = to.delay !== undefined
    // Only properties amqplib can write back: a foreign producer's may not be
    // (a short string whose invalid UTF-8 decodes to more than 255 bytes, a
    // timestamp past 2^53).
    return this.seal(wait ? 'retry' : 'dead-letter', '', to.queue, raw.content, {
      // The message id survives retries, so a consumer can deduplicate across them.
      messageId: delivery.messageId ?? uniqueId(),
      correlationId: delivery.correlationId,
      contentType: shortString(p.contentType),
      contentEncoding: shortString(p.contentEncoding),
      type: shortString(p.type),
      appId: shortString(p.appId) ?? this.opts.appId,
      timestamp: Number.isSafeInteger(p.timestamp) && p.timestamp >= 0 ? p.timestamp : undefined,
      priority: Number.isInteger(p.priority) && p.priority >= 0 && p.priority <= 255 ? p.priority : undefined,
      headers,
      persistent: !wait || p.deliveryMode === 2,
      expiration: wait ? String(to.delay) : undefined,
      mandatory: true
    }, false)
  }

  /**
   * The original's headers and ours, cut down until they fit (see copy()).
   * Linear in the number of headers: each is measured once, however many
   * must go (a foreign producer may send thousands of tiny ones).
   */
  private fitCopyHeaders (original: Record<string, unknown>, ours: Record<string, unknown>, trimmed: string[]): Record<string, unknown> {
    const max = this.maxHeaderBytes()
    const assemble = (): Record<string, unknown> => {
      const headers = { ...original, ...ours }
      if (trimmed.length > 0) headers[HEADERS.trimmed] = listOf(trimmed)
      return headers
    }
    const fits = (headers: Record<string, unknown>): boolean => {
      try {
        return measureTable(headers) <= max
      } catch {
        return false // an original header amqplib could decode but not encode: dropped below
      }
    }
    let headers = assemble()
    if (fits(headers)) return headers
    // A header the copy cannot carry at all (amqplib decoded it but cannot
    // encode it back) goes first, whatever its size.
    let sizes: Array<[string, number]> | undefined
    try {
      measureTable(original)
    } catch {
      sizes = headerSizes(original)
      for (const [name, bytes] of sizes) {
        if (bytes !== Infinity) continue
        delete original[name]
        trimmed.push(name)
      }
      sizes = sizes.filter(([, bytes]) => bytes !== Infinity)
      if (fits(headers = assemble())) return headers
    }
    // Then what the plugin adds: the error message shortened, then the optional fields gone.
    ours[HEADERS.errorMessage] = String(ours[HEADERS.errorMessage]).slice(0, 100)
    if (!trimmed.includes(HEADERS.errorMessage)) trimmed.push(HEADERS.errorMessage)
    if (fits(headers = assemble())) return headers
    for (const name of [HEADERS.failedAt, HEADERS.validation, HEADERS.errorCode, HEADERS.errorMessage]) {
      if (!(name in ours)) continue
      delete ours[name]
      if (!trimmed.includes(name)) trimmed.push(name)
      if (fits(headers = assemble())) return headers
    }
    // Then the original's headers, largest first, until the rest fits beside
    // ours and the longest list of what was cut.
    const room = max - (measureTable(ours) - 4) - (1 + HEADERS.trimmed.length + 1 + 4 + TRIMMED_MAX * 3)
    sizes ??= headerSizes(original)
    let kept = 4
    for (const [, bytes] of sizes) kept += bytes
    for (const [name, bytes] of sizes) {
      if (kept <= room) break
      delete original[name]
      trimmed.push(name)
      kept -= bytes
    }
    if (fits(headers = assemble())) return headers
    for (const name of Object.keys(original)) trimmed.push(name)
    return { ...ours, [HEADERS.trimmed]: listOf(trimmed) }
  }

  /**
   * Reads a delivery: decodes its body for its content type, works out its
   * try number and where it was first published, and where to reply. The
   * producer's word is taken for nothing the plugin acts on.
   */
  open (raw: ConsumeMessage, view: ConsumerView): Delivery {
    const props = raw.properties
    const headers = ownHeaders(props.headers)
    const returned = fromWaitQueue(raw, view)
    const attempts = returned ? attemptsHeader(headers[HEADERS.attempts]) : undefined
    const where = originOf(raw, view, returned)
    let body: unknown
    let decodeError: Error | undefined
    try {
      if (Object.hasOwn(headers, UNDECODABLE_HEADERS)) throw new FST_AMQP_DECODE(String(props.contentType ?? ''), String(headers[UNDECODABLE_HEADERS]))
      body = decode(raw.content, props.contentType, props.contentEncoding)
    } catch (err) {
      decodeError = err as Error
    }
    const attempt = attempts === undefined ? 1 : attempts + 1
    const delivery: Delivery = {
      raw,
      msg: undefined as unknown as WarrenMessage,
      attempt,
      // A reply_to that is no usable address (empty, or more than AMQP can carry) is none.
      replyTo: props.replyTo === '' ? undefined : shortString(props.replyTo),
      correlationId: shortString(props.correlationId),
      messageId: shortString(props.messageId),
      decodeError,
      trace: NO_TRACE
    }
    delivery.msg = new Message(body, raw.content, where.routingKey, where.exchange, headers, props, raw.fields.redelivered, attempt, view, delivery)
    if (decodeError === undefined) for (const hook of this.incomingHooks) hook(delivery)
    return delivery
  }

  /**
   * The body of a reply to a request; throws FST_AMQP_RPC_REMOTE_ERROR (with
   * `remote`) for an error reply and FST_AMQP_DECODE for one that does not decode.
   */
  openReply (raw: ConsumeMessage, routingKey: string): unknown {
    const body = decode(raw.content, raw.properties.contentType, raw.properties.contentEncoding)
    if (ownHeaders(raw.properties.headers)[ERROR_HEADER] === undefined) return body
    const remote = (body as { error?: unknown } | null)?.error as { message?: unknown, code?: unknown } | undefined
    const message = typeof remote?.message === 'string' ? remote.message : undefined
    const code = typeof remote?.code === 'string' ? remote.code : undefined
    const validation = Array.isArray((remote as { validation?: unknown } | undefined)?.validation) ? (remote as { validation: unknown[] }).validation : undefined
    const err = new FST_AMQP_RPC_REMOTE_ERROR(routingKey, message ?? 'unknown error')
    throw Object.assign(err, { remote: validation === undefined ? { message, code } : { message, code, validation } })
  }
}
