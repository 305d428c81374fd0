import { isIP } from 'node:net'
import { isDefinition, type Definition } from '../contracts/define'
import { FST_AMQP_INVALID_OPTION } from './errors'
import type { ExchangeType, TlsOptions, WarrenOptions } from './types'

/** @internal An error constructor taking (field, reason). */
export type ErrorClass = new (field: string, reason: string) => Error

/** @internal Options with every default filled in. */
export interface NormalizedOptions {
  urls: string[]
  /** The socket's TLS settings (only those given), for amqps:// URLs. */
  tls: Readonly<TlsOptions> | undefined
  /** The SASL mechanism: PLAIN (the URL's user and password) or EXTERNAL (the client certificate). */
  auth: 'plain' | 'external'
  /** The registration's name (`app.amqp.<name>`), or undefined for the default one. */
  name: string | undefined
  exchange: string
  /** Every exchange declared at boot, the plugin's own (topic) included. */
  exchanges: Record<string, ExchangeType>
  prefetch: number
  /** The queue type a consumer declares unless it says otherwise. */
  queueType: 'classic' | 'quorum'
  connectionName: string
  heartbeat: number
  connectTimeout: number
  reconnectDelay: number
  reconnectDelayMax: number
  publishTimeout: number
  publishBuffer: number
  publishBufferBytes: number
  maxMessageSize: number
  closeTimeout: number
  /** The definitions this service publishes, for its AsyncAPI document. */
  publishes: Definition[]
  asyncapi: NormalizedAsyncApi
  /** Where the host serves health() as a readiness route, if anywhere. */
  healthRoute: string | undefined
  /** Whether amqplib's writes are coalesced, one writev per turn of its muxer. */
  coalesceWrites: boolean
}

/** @internal The AsyncAPI options after validation. */
export interface NormalizedAsyncApi {
  /** Whether the plugin serves the document and its page. */
  serve: boolean
  path: string
  title: string
  version: string
  description: string | undefined
  script: string
  stylesheet: string
}

/** @internal The AsyncAPI React component the page loads by default. */
export const ASYNCAPI_UI = {
  script: 'https://unpkg.com/@asyncapi/react-component@3.2.1/browser/standalone/index.js',
  stylesheet: 'https://unpkg.com/@asyncapi/react-component@3.2.1/styles/default.min.css'
} as const

/** @internal Every option the plugin takes. */
export const OPTION_NAMES: ReadonlySet<string> = new Set([
  'url', 'tls', 'auth', 'exchange', 'exchanges', 'prefetch', 'connectionName', 'heartbeat',
  'connectTimeout', 'reconnectDelay', 'reconnectDelayMax', 'publishTimeout',
  'publishBuffer', 'publishBufferBytes', 'maxMessageSize', 'closeTimeout',
  'publishes', 'asyncapi', 'healthRoute', 'name', 'queueType', 'coalesceWrites'
])

/**
 * @internal
 * Names a registration may not take: the members of `app.amqp` itself (its
 * methods, and what every object inherits), and `then`, which would make
 * `app.amqp` look like a promise to `await`.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'publish', 'request', 'gather', 'consume', 'health', 'asyncapi', 'then',
  ...Object.getOwnPropertyNames(Object.prototype)
])

/** @internal */
export const DEFAULTS = {
  exchange: 'warren',
  prefetch: 10,
  // Classic: queues declared before this option existed stay equivalent.
  queueType: 'classic',
  connectionName: 'fastify-warren',
  heartbeat: 10,
  connectTimeout: 5000,
  reconnectDelay: 1000,
  reconnectDelayMax: 30000,
  publishTimeout: 10000,
  publishBuffer: 10000,
  publishBufferBytes: 64 * 1024 * 1024,
  // RabbitMQ's own default max_message_size (128 MiB).
  maxMessageSize: 134217728,
  closeTimeout: 30000,
  coalesceWrites: true
} as const

/** @internal Throws FST_AMQP_INVALID_OPTION unless `value` is an integer in [min, max]. */
export function assertInteger (name: string, value: unknown, min: number, max: number, Err: ErrorClass = FST_AMQP_INVALID_OPTION): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new Err(name, `expected an integer from ${min} to ${max}, got ${describe(value)}`)
  }
  return value
}

/** @internal Throws FST_AMQP_INVALID_OPTION unless `value` is a string (non-empty unless allowed). */
export function assertString (name: string, value: unknown, allowEmpty = false, Err: ErrorClass = FST_AMQP_INVALID_OPTION): string {
  if (typeof value !== 'string' || (!allowEmpty && value.length === 0)) {
    throw new Err(name, `expected a ${allowEmpty ? '' : 'non-empty '}string, got ${describe(value)}`)
  }
  if (Buffer.byteLength(value) > 255) {
    throw new Err(name, 'longer than the 255 bytes AMQP allows')
  }
  return value
}

/** @internal Throws FST_AMQP_INVALID_OPTION unless `value` is a boolean. */
export function assertBoolean (name: string, value: unknown, Err: ErrorClass = FST_AMQP_INVALID_OPTION): boolean {
  if (typeof value !== 'boolean') throw new Err(name, `expected a boolean, got ${describe(value)}`)
  return value
}

/** @internal A short, credential-free description of a bad value for error messages. */
export function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${String(value)}`
}

/** @internal The URL with its password replaced, safe to log. */
export function redactUrl (url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '<malformed url>'
  }
}

/** @internal The exchange types RabbitMQ routes with. */
export const EXCHANGE_TYPES: readonly ExchangeType[] = ['direct', 'fanout', 'topic', 'headers']

function assertExchanges (value: unknown, own: string): Record<string, ExchangeType> {
  const all: Record<string, ExchangeType> = { [own]: 'topic' }
  if (value === undefined) return all
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FST_AMQP_INVALID_OPTION('exchanges', `expected an object of exchange name → type, got ${describe(value)}`)
  }
  for (const [name, type] of Object.entries(value)) {
    assertString(`exchanges["${name}"]`, name)
    if (name.startsWith('amq.')) throw new FST_AMQP_INVALID_OPTION(`exchanges["${name}"]`, 'names starting with "amq." are reserved by RabbitMQ')
    if (!EXCHANGE_TYPES.includes(type as ExchangeType)) {
      throw new FST_AMQP_INVALID_OPTION(`exchanges["${name}"]`, `expected direct, fanout, topic or headers, got ${describe(type)}`)
    }
    if (name === own && type !== 'topic') {
      throw new FST_AMQP_INVALID_OPTION(`exchanges["${name}"]`, `"${name}" is the plugin's own exchange, always a topic exchange`)
    }
    all[name] = type as ExchangeType
  }
  return all
}

function assertPublishes (value: unknown): Definition[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new FST_AMQP_INVALID_OPTION('publishes', `expected a list of definitions (defineMessage, defineRequest), got ${describe(value)}`)
  return value.map((d, i) => {
    if (!isDefinition(d)) throw new FST_AMQP_INVALID_OPTION(`publishes[${i}]`, `expected a definition (defineMessage, defineRequest), got ${describe(d)}`)
    return d
  })
}

const ASYNCAPI_KEYS = new Set(['path', 'title', 'version', 'description', 'ui'])

function assertAsyncApi (value: unknown, connectionName: string): NormalizedAsyncApi {
  const serve = value !== undefined && value !== false
  const o = (value === undefined || typeof value === 'boolean' ? {} : value) as Record<string, unknown>
  if (typeof value !== 'boolean' && value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw new FST_AMQP_INVALID_OPTION('asyncapi', `expected true, false or { path, title, version, description, ui }, got ${describe(value)}`)
  }
  for (const k of Object.keys(o)) if (!ASYNCAPI_KEYS.has(k)) throw new FST_AMQP_INVALID_OPTION(`asyncapi.${k}`, 'unknown option')
  const text = (name: string, fallback: string): string => {
    const v = o[name]
    if (v === undefined) return fallback
    if (typeof v !== 'string' || v === '') throw new FST_AMQP_INVALID_OPTION(`asyncapi.${name}`, `expected a non-empty string, got ${describe(v)}`)
    return v
  }
  const path = text('path', '/asyncapi')
  if (!path.startsWith('/') || path.endsWith('/') || /[?#]/.test(path)) throw new FST_AMQP_INVALID_OPTION('asyncapi.path', `expected a path such as "/asyncapi", got ${describe(path)}`)
  const ui = (o.ui ?? {}) as Record<string, unknown>
  if (ui === null || typeof ui !== 'object' || Array.isArray(ui)) throw new FST_AMQP_INVALID_OPTION('asyncapi.ui', `expected { script, stylesheet }, got ${describe(o.ui)}`)
  for (const k of Object.keys(ui)) if (k !== 'script' && k !== 'stylesheet') throw new FST_AMQP_INVALID_OPTION(`asyncapi.ui.${k}`, 'unknown option')
  const url = (name: 'script' | 'stylesheet'): string => {
    const v = ui[name]
    if (v === undefined) return ASYNCAPI_UI[name]
    if (typeof v !== 'string' || v === '') throw new FST_AMQP_INVALID_OPTION(`asyncapi.ui.${name}`, `expected a URL, got ${describe(v)}`)
    return v
  }
  return {
    serve,
    path,
    title: text('title', connectionName),
    version: text('version', '1.0.0'),
    description: o.description === undefined ? undefined : text('description', ''),
    script: url('script'),
    stylesheet: url('stylesheet')
  }
}

/** A JavaScript identifier, so that `app.amqp.<name>` can be written as is. */
const NAME = /^[A-Za-z_$][\w$]*$/

/** @internal Throws FST_AMQP_INVALID_OPTION unless `value` can name a registration (`app.amqp.<name>`). */
export function assertName (value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new FST_AMQP_INVALID_OPTION('name', `expected an identifier (letters, digits, _ and $, not starting with a digit), got ${describe(value)}`)
  }
  // So that the default connectionName, `fastify-warren:<name>`, fits AMQP's 255 bytes.
  if (value.length > 240) throw new FST_AMQP_INVALID_OPTION('name', 'longer than 240 characters')
  if (RESERVED_NAMES.has(value)) throw new FST_AMQP_INVALID_OPTION('name', `"${value}" is taken by app.amqp itself`)
  return value
}

function assertQueueType (value: unknown): 'classic' | 'quorum' {
  if (value === 'classic' || value === 'quorum') return value
  const why = value === 'stream' ? ': streams are chosen per consumer (consume()\'s queueType), as they have no retries' : ''
  throw new FST_AMQP_INVALID_OPTION('queueType', `expected "classic" or "quorum", got ${describe(value)}${why}`)
}

function assertPath (name: string, value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || /[?#\s]/.test(value)) {
    throw new FST_AMQP_INVALID_OPTION(name, `expected a path such as "/health/amqp", got ${describe(value)}`)
  }
  return value
}

function assertUrl (name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new FST_AMQP_INVALID_OPTION(name, `expected an amqp://, amqps:// or memory:// URL, got ${typeof value === 'string' ? 'an empty string' : describe(value)}`)
  }
  let parsed: URL
  try {
    parsed = new URL(value)
  } catch {
    // Never echo the value: it may hold a password.
    throw new FST_AMQP_INVALID_OPTION(name, 'not a valid URL')
  }
  if (parsed.protocol === 'memory:') {
    // memory:// (a private broker) or memory://name (shared by name in the process): nothing else.
    if (parsed.username !== '' || parsed.password !== '' || parsed.port !== '' || !/^memory:\/\/[^/?#]*\/?$/.test(value)) {
      throw new FST_AMQP_INVALID_OPTION(name, 'a memory URL is memory:// or memory://<name>, with nothing after the name')
    }
    return value
  }
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
    throw new FST_AMQP_INVALID_OPTION(name, `expected the amqp:, amqps: or memory: scheme, got "${parsed.protocol}"`)
  }
  if (!parsed.hostname) {
    throw new FST_AMQP_INVALID_OPTION(name, 'the URL has no host')
  }
  return value
}

/** What a bad TLS value was, without a byte of it: it may be a key. */
function describeSecret (value: unknown): string {
  if (typeof value === 'string') return `a string of ${value.length} characters`
  if (Buffer.isBuffer(value)) return `a Buffer of ${value.length} bytes`
  return describe(value)
}

/** PEM text (a string or a Buffer), as Node's tls takes certificates and keys. */
function assertPem (name: string, value: unknown): string | Buffer {
  if (typeof value !== 'string' && !Buffer.isBuffer(value)) {
    throw new FST_AMQP_INVALID_OPTION(name, `expected PEM text (a string or a Buffer), got ${describeSecret(value)}`)
  }
  if (!value.includes('-----BEGIN ')) {
    // The usual mistake: a file's path instead of its contents.
    throw new FST_AMQP_INVALID_OPTION(name, `expected PEM text (-----BEGIN ...), got ${describeSecret(value)} that is not PEM; for a file, pass its contents (readFileSync(path))`)
  }
  return value
}

const TLS_KEYS: ReadonlySet<string> = new Set(['ca', 'cert', 'key', 'passphrase', 'pfx', 'servername', 'rejectUnauthorized'] satisfies Array<keyof TlsOptions>)

function assertTls (value: unknown, urls: string[]): Readonly<TlsOptions> | undefined {
  if (value === undefined) return undefined
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value)) {
    throw new FST_AMQP_INVALID_OPTION('tls', `expected an object of { ca, cert, key, passphrase, pfx, servername, rejectUnauthorized }, got ${describeSecret(value)}`)
  }
  // A tls option beside a plain URL means someone expects encryption that would not happen.
  const plain = urls.findIndex((u) => new URL(u).protocol !== 'amqps:')
  if (plain >= 0) {
    throw new FST_AMQP_INVALID_OPTION('tls', `applies to amqps:// URLs only, but ${urls.length > 1 ? `url[${plain}]` : 'url'} is ${new URL(urls[plain]).protocol}//: use amqps:// (over amqp:// the password would go in the clear), or drop tls`)
  }
  const o = value as Record<string, unknown>
  for (const k of Object.keys(o)) if (!TLS_KEYS.has(k)) throw new FST_AMQP_INVALID_OPTION(`tls.${k}`, 'unknown option')
  const tls: TlsOptions = {}
  if (o.ca !== undefined) {
    if (Array.isArray(o.ca)) {
      if (o.ca.length === 0) throw new FST_AMQP_INVALID_OPTION('tls.ca', 'the list of CA certificates is empty')
      tls.ca = o.ca.map((c, i) => assertPem(`tls.ca[${i}]`, c))
    } else {
      tls.ca = assertPem('tls.ca', o.ca)
    }
  }
  if (o.cert !== undefined) tls.cert = assertPem('tls.cert', o.cert)
  if (o.key !== undefined) tls.key = assertPem('tls.key', o.key)
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new FST_AMQP_INVALID_OPTION(tls.cert === undefined ? 'tls.key' : 'tls.cert', 'a client certificate needs both tls.cert and tls.key')
  }
  if (o.pfx !== undefined) {
    if ((typeof o.pfx !== 'string' && !Buffer.isBuffer(o.pfx)) || o.pfx.length === 0) {
      throw new FST_AMQP_INVALID_OPTION('tls.pfx', `expected a PKCS#12 file's contents (a Buffer, or a string), got ${describeSecret(o.pfx)}`)
    }
    tls.pfx = o.pfx
  }
  if (o.passphrase !== undefined) {
    if (typeof o.passphrase !== 'string') throw new FST_AMQP_INVALID_OPTION('tls.passphrase', `expected a string, got ${describeSecret(o.passphrase)}`)
    if (tls.key === undefined && tls.pfx === undefined) throw new FST_AMQP_INVALID_OPTION('tls.passphrase', 'decrypts tls.key or tls.pfx, and neither is given')
    tls.passphrase = o.passphrase
  }
  if (o.servername !== undefined) {
    if (typeof o.servername !== 'string' || o.servername === '' || /[\s/:@]/.test(o.servername)) {
      throw new FST_AMQP_INVALID_OPTION('tls.servername', `expected a host name, got ${describe(o.servername)}`)
    }
    if (isIP(o.servername) !== 0) throw new FST_AMQP_INVALID_OPTION('tls.servername', 'an IP address cannot be a TLS server name (RFC 6066): give the host name the broker\'s certificate names')
    tls.servername = o.servername
  }
  if (o.rejectUnauthorized !== undefined) {
    if (typeof o.rejectUnauthorized !== 'boolean') throw new FST_AMQP_INVALID_OPTION('tls.rejectUnauthorized', `expected a boolean, got ${describe(o.rejectUnauthorized)}`)
    tls.rejectUnauthorized = o.rejectUnauthorized
  }
  return Object.freeze(tls)
}

function assertAuth (value: unknown, tls: Readonly<TlsOptions> | undefined, urls: string[]): 'plain' | 'external' {
  if (value === undefined || value === 'plain') return 'plain'
  if (value !== 'external') throw new FST_AMQP_INVALID_OPTION('auth', `expected "plain" or "external", got ${describe(value)}`)
  if (tls?.cert === undefined && tls?.pfx === undefined) {
    throw new FST_AMQP_INVALID_OPTION('auth', '"external" logs in with a client certificate: give tls.cert and tls.key, or tls.pfx (over amqps://)')
  }
  const withUser = urls.findIndex((u) => { const p = new URL(u); return p.username !== '' || p.password !== '' })
  if (withUser >= 0) {
    throw new FST_AMQP_INVALID_OPTION(urls.length > 1 ? `url[${withUser}]` : 'url', 'auth "external" logs in as the client certificate\'s user: the user name and password in the URL would not be used, remove them')
  }
  return 'external'
}

/**
 * @internal
 * Fills defaults and rejects bad values, naming the field, before any connection is made.
 */
export function normalizeOptions (opts: unknown): NormalizedOptions {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new FST_AMQP_INVALID_OPTION('options', `expected an object, got ${describe(opts)}`)
  }
  const o = opts as Partial<WarrenOptions> & Record<string, unknown>
  for (const key of Object.keys(o)) {
    if (!OPTION_NAMES.has(key)) throw new FST_AMQP_INVALID_OPTION(key, 'unknown option')
  }

  let urls: string[]
  if (Array.isArray(o.url)) {
    if (o.url.length === 0) throw new FST_AMQP_INVALID_OPTION('url', 'the list of URLs is empty')
    urls = o.url.map((u, i) => assertUrl(`url[${i}]`, u))
    if (urls.length > 1 && urls.some((u) => u.startsWith('memory:'))) {
      throw new FST_AMQP_INVALID_OPTION('url', 'a memory:// URL must be the only one: there is no failover to or from the in-memory broker')
    }
  } else {
    urls = [assertUrl('url', o.url)]
  }
  const tls = assertTls(o.tls, urls)
  const auth = assertAuth(o.auth, tls, urls)

  const exchange = o.exchange === undefined ? DEFAULTS.exchange : assertString('exchange', o.exchange)
  const reconnectDelay = o.reconnectDelay === undefined ? DEFAULTS.reconnectDelay : assertInteger('reconnectDelay', o.reconnectDelay, 10, 600000)
  const reconnectDelayMax = o.reconnectDelayMax === undefined
    ? Math.max(reconnectDelay, DEFAULTS.reconnectDelayMax)
    : assertInteger('reconnectDelayMax', o.reconnectDelayMax, reconnectDelay, 3600000)
  const name = o.name === undefined ? undefined : assertName(o.name)
  // A named registration's connections are told apart in the broker's list by default.
  const connectionName = o.connectionName !== undefined
    ? assertString('connectionName', o.connectionName)
    : name === undefined ? DEFAULTS.connectionName : `${DEFAULTS.connectionName}:${name}`
  return {
    urls,
    tls,
    auth,
    name,
    exchange,
    exchanges: assertExchanges(o.exchanges, exchange),
    prefetch: o.prefetch === undefined ? DEFAULTS.prefetch : assertInteger('prefetch', o.prefetch, 1, 65535),
    queueType: o.queueType === undefined ? DEFAULTS.queueType : assertQueueType(o.queueType),
    connectionName,
    heartbeat: o.heartbeat === undefined ? DEFAULTS.heartbeat : assertInteger('heartbeat', o.heartbeat, 0, 3600),
    connectTimeout: o.connectTimeout === undefined ? DEFAULTS.connectTimeout : assertInteger('connectTimeout', o.connectTimeout, 1, 600000),
    reconnectDelay,
    reconnectDelayMax,
    publishTimeout: o.publishTimeout === undefined ? DEFAULTS.publishTimeout : assertInteger('publishTimeout', o.publishTimeout, 1, 600000),
    publishBuffer: o.publishBuffer === undefined ? DEFAULTS.publishBuffer : assertInteger('publishBuffer', o.publishBuffer, 0, 10000000),
    publishBufferBytes: o.publishBufferBytes === undefined ? DEFAULTS.publishBufferBytes : assertInteger('publishBufferBytes', o.publishBufferBytes, 0, Number.MAX_SAFE_INTEGER),
    maxMessageSize: o.maxMessageSize === undefined ? DEFAULTS.maxMessageSize : assertInteger('maxMessageSize', o.maxMessageSize, 1, 536870912),
    closeTimeout: o.closeTimeout === undefined ? DEFAULTS.closeTimeout : assertInteger('closeTimeout', o.closeTimeout, 0, 600000),
    publishes: assertPublishes(o.publishes),
    asyncapi: assertAsyncApi(o.asyncapi, connectionName),
    healthRoute: o.healthRoute === undefined ? undefined : assertPath('healthRoute', o.healthRoute),
    coalesceWrites: o.coalesceWrites === undefined ? DEFAULTS.coalesceWrites : assertBoolean('coalesceWrites', o.coalesceWrites)
  }
}
