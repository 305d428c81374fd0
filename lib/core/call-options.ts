import { isDefinition, isSchema, type Definition, type MessageDefinition, type Schema } from '../contracts/define'
import { FST_AMQP_INVALID_ARGUMENT } from './errors'
import { assertInteger, assertString, describe, EXCHANGE_TYPES, type NormalizedOptions } from './options'
import type { ConsumeOptions, ExchangeType, GatherOptions, NextStage, PublishOptions, RequestOptions } from './types'
import type { NormalizedRetry } from './retry'
import { normalizeQueueSettings, queueArguments } from './queue-options'
import type { StreamOffset } from './stream-offset'
import { waitQueueName, type ConsumerTopology } from './topology'

/*
 * Validation of per-call arguments (publish, request, consume), kept beside
 * the plugin options so every check lives in one of two small files.
 * Every failure is FST_AMQP_INVALID_ARGUMENT naming the argument.
 */

const ARG = FST_AMQP_INVALID_ARGUMENT
const PUBLISH_KEYS = new Set(['exchange', 'mandatory', 'persistent', 'headers', 'expiration', 'priority', 'messageId', 'correlationId', 'contentType', 'timeout'])
const REQUEST_KEYS = new Set(['timeout', 'exchange', 'headers'])
const GATHER_KEYS = new Set(['timeout', 'exchange', 'headers', 'expect'])
const CONSUME_KEYS = new Set([
  'queue', 'exclusive', 'exchange', 'exchangeType', 'headers', 'match', 'prefetch', 'next', 'retry', 'deadLetter', 'queueArguments', 'schema',
  'queueType', 'deliveryLimit', 'singleActiveConsumer', 'priority', 'offset'
])
const SCHEMA_KEYS = new Set(['body', 'headers'])
const RETRY_KEYS = new Set(['attempts', 'delay', 'factor', 'maxDelay', 'jitter'])
const NEXT_KEYS = new Set(['routingKey', 'exchange'])

/** @internal Default request timeout, in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT = 5000

function assertObject (name: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ARG(name, `expected an object, got ${describe(value)}`)
  }
  return value as Record<string, unknown>
}

function assertKeys (name: string, value: Record<string, unknown>, known: Set<string>): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw new ARG(`${name}.${key}`, 'unknown option')
  }
}

function assertBoolean (name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ARG(name, `expected a boolean, got ${describe(value)}`)
  return value
}

/** @internal */
export function assertRoutingKey (value: unknown): string {
  return assertString('routingKey', value, true, ARG)
}

/** @internal Publish options after validation. */
export interface NormalizedPublish {
  exchange: string
  mandatory: boolean
  persistent: boolean
  headers: Record<string, unknown> | undefined
  expiration: string | undefined
  priority: number | undefined
  messageId: string | undefined
  correlationId: string | undefined
  contentType: string | undefined
  timeout: number
}

/** @internal */
export function normalizePublishOptions (options: PublishOptions | undefined, defaults: NormalizedOptions): NormalizedPublish {
  const o = options === undefined ? {} : assertObject('options', options) as PublishOptions
  if (options !== undefined) assertKeys('options', o as Record<string, unknown>, PUBLISH_KEYS)
  return {
    exchange: o.exchange === undefined ? defaults.exchange : assertString('options.exchange', o.exchange, true, ARG),
    mandatory: o.mandatory === undefined ? true : assertBoolean('options.mandatory', o.mandatory),
    persistent: o.persistent === undefined ? true : assertBoolean('options.persistent', o.persistent),
    headers: o.headers === undefined ? undefined : assertObject('options.headers', o.headers),
    expiration: o.expiration === undefined ? undefined : String(assertInteger('options.expiration', o.expiration, 0, 2 ** 31 - 1, ARG)),
    priority: o.priority === undefined ? undefined : assertInteger('options.priority', o.priority, 0, 255, ARG),
    messageId: o.messageId === undefined ? undefined : assertString('options.messageId', o.messageId, false, ARG),
    correlationId: o.correlationId === undefined ? undefined : assertString('options.correlationId', o.correlationId, false, ARG),
    contentType: o.contentType === undefined ? undefined : assertString('options.contentType', o.contentType, false, ARG),
    timeout: o.timeout === undefined ? defaults.publishTimeout : assertInteger('options.timeout', o.timeout, 1, 600000, ARG)
  }
}

/** @internal Request options after validation. */
export interface NormalizedRequest {
  exchange: string
  timeout: number
  headers: Record<string, unknown> | undefined
}

/** @internal */
export function normalizeRequestOptions (options: RequestOptions | undefined, defaults: NormalizedOptions): NormalizedRequest {
  const o = options === undefined ? {} : assertObject('options', options) as RequestOptions
  if (options !== undefined) assertKeys('options', o as Record<string, unknown>, REQUEST_KEYS)
  return {
    exchange: o.exchange === undefined ? defaults.exchange : assertString('options.exchange', o.exchange, true, ARG),
    timeout: o.timeout === undefined ? DEFAULT_REQUEST_TIMEOUT : assertInteger('options.timeout', o.timeout, 1, 2 ** 31 - 1, ARG),
    headers: o.headers === undefined ? undefined : assertObject('options.headers', o.headers)
  }
}

/** @internal Gather options after validation. */
export interface NormalizedGather extends NormalizedRequest {
  expect: number | string[] | undefined
}

/** @internal */
export function normalizeGatherOptions (options: GatherOptions | undefined, defaults: NormalizedOptions): NormalizedGather {
  const { expect, ...rest } = options === undefined ? {} : assertObject('options', options) as GatherOptions
  if (options !== undefined) assertKeys('options', options as Record<string, unknown>, GATHER_KEYS)
  const request = normalizeRequestOptions(rest, defaults)
  if (expect === undefined || typeof expect === 'number') {
    return { ...request, expect: expect === undefined ? undefined : assertInteger('options.expect', expect, 1, 65535, ARG) }
  }
  if (!Array.isArray(expect) || expect.length === 0) throw new ARG('options.expect', `expected a count or a non-empty list of service names, got ${describe(expect)}`)
  const names = expect.map((name, i) => assertString(`options.expect[${i}]`, name, false, ARG))
  if (new Set(names).size !== names.length) throw new ARG('options.expect', 'a service is named twice')
  return { ...request, expect: names }
}

/** @internal What a consumer's messages must look like: a definition's schemas, or a per-call `schema`. */
export interface ConsumeContract {
  /** The definition it consumes, if it was given one. */
  definition: Definition | undefined
  body: Schema | undefined
  headers: Schema | undefined
}

/** @internal Consumer settings after validation. */
export interface NormalizedConsume {
  topology: ConsumerTopology
  prefetch: number
  /** Where the handler's result goes, for a pipeline stage (with the next stage's definition, if given one). */
  next: (Required<NextStage> & { definition?: MessageDefinition }) | undefined
  retry: NormalizedRetry
  /** Undefined when its messages have no schema. */
  contract: ConsumeContract | undefined
  /** Its consumer priority (x-priority), if set. */
  priority: number | undefined
  /** Where a stream consumer starts reading; undefined for other queues. */
  offset: StreamOffset | undefined
}

/** @internal The most wait queues a consumer declares. */
export const MAX_WAIT_QUEUES = 10

/** @internal The retry policy of a consumer that does not set one. */
export const DEFAULT_RETRY: Readonly<NormalizedRetry> = { attempts: 3, delay: 1000, factor: 2, maxDelay: 60000, jitter: 0.2 }

function assertFraction (name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new ARG(name, `expected a number from ${min} to ${max}, got ${describe(value)}`)
  }
  return value
}

function normalizeRetry (value: unknown): NormalizedRetry {
  if (value === undefined) return { ...DEFAULT_RETRY }
  if (value === false) return { ...DEFAULT_RETRY, attempts: 1 }
  const o = assertObject('options.retry', value)
  assertKeys('options.retry', o, RETRY_KEYS)
  const d = DEFAULT_RETRY
  const retry: NormalizedRetry = {
    attempts: o.attempts === undefined ? d.attempts : assertInteger('options.retry.attempts', o.attempts, 1, 100, ARG),
    delay: o.delay === undefined ? d.delay : assertInteger('options.retry.delay', o.delay, 0, 2 ** 31 - 1, ARG),
    factor: o.factor === undefined ? d.factor : assertFraction('options.retry.factor', o.factor, 1, 100),
    maxDelay: o.maxDelay === undefined ? d.maxDelay : assertInteger('options.retry.maxDelay', o.maxDelay, 0, 2 ** 31 - 1, ARG),
    jitter: o.jitter === undefined ? d.jitter : assertFraction('options.retry.jitter', o.jitter, 0, 1)
  }
  if (o.maxDelay === undefined) retry.maxDelay = Math.max(retry.maxDelay, retry.delay)
  if (retry.maxDelay < retry.delay) throw new ARG('options.retry.maxDelay', `must not be less than delay (${retry.delay})`)
  return retry
}

/** The dead-letter queue: `<queue>.dlq` by default, a name, or none (false; an exclusive queue has none unless named). */
function normalizeDeadLetter (value: unknown, queue: string, exclusive: boolean): string | undefined {
  if (value === false) return undefined
  if (value === undefined || value === true) {
    if (exclusive) {
      if (value === true) throw new ARG('options.deadLetter', 'an exclusive queue has no name to derive one from: name the dead-letter queue')
      return undefined
    }
    return assertString('options.queue', `${queue}.dlq`, false, ARG)
  }
  const name = assertString('options.deadLetter', value, false, ARG)
  if (name === queue) throw new ARG('options.deadLetter', 'the dead-letter queue cannot be the queue itself')
  return name
}

function normalizeNext (next: unknown, exchange: string): Required<NextStage> & { definition?: MessageDefinition } {
  if (typeof next === 'string') return { routingKey: assertString('options.next', next, true, ARG), exchange }
  if (isDefinition(next)) {
    if (next.kind !== 'message') throw new ARG('options.next', `a pipeline stage forwards to a defineMessage() definition, and "${next.routingKey}" is a request`)
    return { routingKey: next.routingKey, exchange: next.exchange ?? exchange, definition: next }
  }
  const o = assertObject('options.next', next) as unknown as NextStage
  assertKeys('options.next', o as unknown as Record<string, unknown>, NEXT_KEYS)
  return {
    routingKey: assertString('options.next.routingKey', o.routingKey, true, ARG),
    exchange: o.exchange === undefined ? exchange : assertString('options.next.exchange', o.exchange, true, ARG)
  }
}

function normalizeSchema (value: unknown): { body: Schema | undefined, headers: Schema | undefined } {
  const o = assertObject('options.schema', value)
  assertKeys('options.schema', o, SCHEMA_KEYS)
  for (const name of ['body', 'headers'] as const) {
    if (o[name] !== undefined && !isSchema(o[name])) throw new ARG(`options.schema.${name}`, `expected a Standard Schema or a JSON Schema object, got ${describe(o[name])}`)
  }
  return { body: o.body as Schema | undefined, headers: o.headers as Schema | undefined }
}

/**
 * @internal
 * consume()'s arguments, in either order: (target, handler, options) as
 * before, or (target, options, handler) as Fastify routes are written. The
 * target is a routing key, a list of them, or a definition.
 */
export function normalizeConsumeArgs (target: unknown, second: unknown, third: unknown, defaults: NormalizedOptions): { spec: NormalizedConsume, handler: (...args: any[]) => unknown } {
  const [handler, options] = typeof second !== 'function' && typeof third === 'function' ? [third, second] : [second, third]
  const definition = isDefinition(target) ? target : undefined
  const routingKey = definition === undefined ? target : definition.routingKey
  const keys = Array.isArray(routingKey) ? routingKey : [routingKey]
  if (keys.length === 0) throw new ARG('routingKey', 'the list of routing keys is empty')
  const routingKeys = keys.map((k) => assertRoutingKey(k))
  if (typeof handler !== 'function') throw new ARG('handler', `expected a function, got ${describe(handler)}`)
  const given = options === undefined ? {} : assertObject('options', options) as ConsumeOptions
  if (options !== undefined) assertKeys('options', given as Record<string, unknown>, CONSUME_KEYS)
  if (definition !== undefined && given.schema !== undefined) throw new ARG('options.schema', 'a definition brings its own schemas: drop "schema", or consume a routing key')
  const schema = given.schema === undefined ? undefined : normalizeSchema(given.schema)
  const contract: ConsumeContract | undefined = definition !== undefined
    ? { definition, body: definition.body, headers: definition.headers }
    : schema !== undefined ? { definition: undefined, ...schema } : undefined
  // A definition names its exchange; an option may still name another.
  const o: ConsumeOptions = definition?.exchange !== undefined && given.exchange === undefined ? { ...given, exchange: definition.exchange } : given

  const exclusive = o.exclusive === undefined ? false : assertBoolean('options.exclusive', o.exclusive)
  if (exclusive && o.queue !== undefined) throw new ARG('options.queue', 'an exclusive queue is named by the server; drop "queue" or "exclusive"')
  let queue = o.queue === undefined ? '' : assertString('options.queue', o.queue, false, ARG)
  if (!exclusive && queue === '') {
    if (routingKeys.length !== 1 || routingKeys[0] === '') {
      throw new ARG('options.queue', 'name the queue (or set exclusive) when there is no single routing key to name it after')
    }
    queue = routingKeys[0]
  }

  const exchange = o.exchange === undefined ? defaults.exchange : assertString('options.exchange', o.exchange, true, ARG)
  const declared = defaults.exchanges[exchange]
  let exchangeType: ExchangeType = declared ?? 'topic'
  if (o.exchangeType !== undefined) {
    if (!EXCHANGE_TYPES.includes(o.exchangeType)) throw new ARG('options.exchangeType', `expected direct, fanout, topic or headers, got ${describe(o.exchangeType)}`)
    exchangeType = o.exchangeType
  }
  if (declared !== undefined && exchangeType !== declared) {
    throw new ARG('options.exchangeType', `exchange "${exchange}" is declared as a ${declared} exchange by the plugin options, not ${exchangeType}`)
  }
  if (exchange === '' && exclusive) {
    throw new ARG('options.exchange', 'a server-named queue cannot be reached through the default exchange')
  }

  let bindArgs: Record<string, unknown> | undefined
  if (o.headers !== undefined || o.match !== undefined) {
    if (exchangeType !== 'headers') throw new ARG('options.headers', 'header matching needs exchangeType "headers"')
    const headers = assertObject('options.headers', o.headers ?? {})
    if (o.match !== undefined && o.match !== 'all' && o.match !== 'any') throw new ARG('options.match', `expected "all" or "any", got ${describe(o.match)}`)
    bindArgs = { ...headers, 'x-match': o.match ?? 'all' }
  }

  const userArgs = o.queueArguments === undefined ? undefined : assertObject('options.queueArguments', o.queueArguments)
  const settings = normalizeQueueSettings(o, userArgs, exclusive, defaults.queueType)
  const stream = settings.type === 'stream'
  const retry = normalizeRetry(stream ? false : o.retry)
  const deadLetter = stream ? undefined : normalizeDeadLetter(o.deadLetter, queue, exclusive)
  const { args: queueArgs, deadLetterAtStart } = queueArguments(userArgs, settings, deadLetter)
  // One wait queue per retry, up to MAX_WAIT_QUEUES; later retries share the last one.
  const retryLevels = Math.min(retry.attempts - 1, MAX_WAIT_QUEUES)
  // The longest wait queue name must be a valid queue name too.
  if (!exclusive && retryLevels > 0) assertString('options.queue', waitQueueName(queue, retryLevels), false, ARG)
  const spec: NormalizedConsume = {
    topology: {
      exchange,
      exchangeType,
      queue,
      exclusive,
      routingKeys,
      bindArgs,
      queueArgs,
      queueType: settings.type,
      singleActiveConsumer: settings.singleActiveConsumer,
      retryLevels,
      deadLetter,
      deadLetterAtStart
    },
    prefetch: o.prefetch === undefined ? defaults.prefetch : assertInteger('options.prefetch', o.prefetch, 1, 65535, ARG),
    next: o.next === undefined ? undefined : normalizeNext(o.next, exchange),
    retry,
    contract,
    priority: settings.priority,
    offset: settings.offset
  }
  return { spec, handler: handler as (...args: any[]) => unknown }
}
