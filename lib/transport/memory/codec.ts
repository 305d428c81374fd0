/*
 * What crossing the wire does to a message, without a wire. A real broker
 * hands back headers as amqplib decodes them, so values go through the same
 * changes here: an undefined entry disappears, a Date (an object with no
 * keys of its own) becomes {}, a Buffer is copied, a typed value
 * ({ '!': 'long', value }) comes back bare except timestamps and decimals,
 * which amqplib keeps wrapped. Options map to AMQP fields as amqplib maps them.
 */

/** One field value as amqplib would encode and then decode it. */
function wireValue (value: unknown): unknown {
  if (value === null) return null
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'number':
      return value
    case 'bigint':
      return Number(value)
    case 'object':
      break
    default:
      throw new TypeError(`Unencodable value: ${String(value)}`)
  }
  if (Buffer.isBuffer(value)) return Buffer.from(value)
  if (Array.isArray(value)) return value.map(wireValue)
  const typed = value as { '!'?: unknown, value?: unknown }
  if (Object.prototype.hasOwnProperty.call(value, '!')) {
    if (typed['!'] === 'timestamp' || typed['!'] === 'decimal') return { '!': typed['!'], value: typed.value }
    return wireValue(typed.value)
  }
  return roundTrip(value)
}

/**
 * @internal
 * `table` as a consumer would receive it through amqplib: own and inherited
 * enumerable keys, undefined values left out. Throws for a value amqplib
 * could not encode.
 */
export function roundTrip (table: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (table === undefined || table === null || typeof table !== 'object') return out
  for (const key in table) {
    const value = (table as Record<string, unknown>)[key]
    if (value !== undefined) out[key] = wireValue(value)
  }
  return out
}

/** Sets `key` on `target` when `value` is defined. */
function setIf (target: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== undefined) target[key] = value
}

/** @internal queue.declare arguments from amqplib's assertQueue options, shorthands included. */
export function queueArguments (options: Record<string, unknown> = {}): Record<string, unknown> {
  const args = roundTrip(options.arguments)
  setIf(args, 'x-expires', options.expires)
  setIf(args, 'x-message-ttl', options.messageTtl)
  setIf(args, 'x-dead-letter-exchange', options.deadLetterExchange)
  setIf(args, 'x-dead-letter-routing-key', options.deadLetterRoutingKey)
  setIf(args, 'x-max-length', options.maxLength)
  setIf(args, 'x-max-priority', options.maxPriority)
  setIf(args, 'x-overflow', options.overflow)
  setIf(args, 'x-queue-mode', options.queueMode)
  return args
}

/** @internal Properties of a publish from amqplib's publish options (CC and BCC go into headers). */
export function publishProperties (options: Record<string, unknown> = {}): MessageProperties {
  const headers = Object.create((options.headers as object | undefined) ?? null) as Record<string, unknown>
  const list = (v: unknown): string[] | undefined => v === undefined ? undefined : Array.isArray(v) ? v.map(String) : [String(v)]
  setIf(headers, 'CC', list(options.CC))
  setIf(headers, 'BCC', list(options.BCC))
  let deliveryMode: unknown
  if (options.persistent !== undefined) deliveryMode = options.persistent ? 2 : 1
  else if (typeof options.deliveryMode === 'number') deliveryMode = options.deliveryMode
  else if (options.deliveryMode) deliveryMode = 2
  return propertiesOf({ ...options, headers, deliveryMode })
}

/** The message properties a consumer sees, every key present as amqplib gives them. */
export interface MessageProperties {
  contentType: string | undefined
  contentEncoding: string | undefined
  headers: Record<string, unknown>
  deliveryMode: number | undefined
  priority: number | undefined
  correlationId: string | undefined
  replyTo: string | undefined
  expiration: string | undefined
  messageId: string | undefined
  timestamp: number | undefined
  type: string | undefined
  userId: string | undefined
  appId: string | undefined
  clusterId: string | undefined
}

/** The properties of a published message, every key present. */
function propertiesOf (fields: Record<string, unknown>): MessageProperties {
  const str = (v: unknown): string | undefined => v === undefined || v === null ? undefined : String(v)
  const num = (v: unknown): number | undefined => v === undefined || v === null ? undefined : Number(v)
  return {
    contentType: str(fields.contentType),
    contentEncoding: str(fields.contentEncoding),
    headers: roundTrip(fields.headers),
    deliveryMode: num(fields.deliveryMode),
    priority: num(fields.priority),
    correlationId: str(fields.correlationId),
    replyTo: str(fields.replyTo),
    expiration: str(fields.expiration),
    messageId: str(fields.messageId),
    timestamp: num(fields.timestamp),
    type: str(fields.type),
    userId: str(fields.userId),
    appId: str(fields.appId),
    clusterId: str(fields.clusterId)
  }
}

/** @internal A copy of `props` whose headers can be changed without touching the original. */
export function copyProperties (props: MessageProperties): MessageProperties {
  return { ...props, headers: roundTrip(props.headers) }
}

/**
 * @internal
 * The AMQP field type RabbitMQ names in its 406 texts for a value as amqplib
 * encodes it ('byte', 'short', 'signedint', 'long', 'double', 'longstr', 'bool'…).
 */
export function typeName (value: unknown): string {
  if (typeof value === 'string') return 'longstr'
  if (typeof value === 'boolean') return 'bool'
  if (typeof value === 'number') {
    if (value >= 0x8000000000000000 || (Math.abs(value) < 0x4000000000000 && Math.floor(value) !== value)) return 'double'
    if (value >= -128 && value < 128) return 'byte'
    if (value >= -0x8000 && value < 0x8000) return 'short'
    if (value >= -0x80000000 && value < 0x80000000) return 'signedint'
    return 'long'
  }
  if (Buffer.isBuffer(value)) return 'binary'
  if (Array.isArray(value)) return 'array'
  if (value === null || value === undefined) return 'void'
  return 'table'
}

/** @internal The class RabbitMQ compares argument types by: every integer width is one class. */
export function typeClass (value: unknown): string {
  const t = typeName(value)
  return ['byte', 'short', 'signedint', 'long'].includes(t) ? 'int' : t
}

/** @internal A non-negative integer argument or property, or undefined. */
export function intArg (value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : undefined
}
