import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { FastifyTypeProvider, FastifyTypeProviderDefault } from 'fastify'
import { FST_AMQP_INVALID_ARGUMENT } from '../core/errors'
import { assertString, describe } from '../core/options'

/*
 * Message contracts: a routing key with the schemas of what travels on it,
 * defined once in a module every service that sends or receives it imports.
 * A schema is either a Standard Schema (Zod 4, Valibot, ArkType...) or a
 * JSON Schema object (TypeBox's included).
 */

/** A JSON Schema, as an object (TypeBox schemas are JSON Schema objects). */
export type JsonSchema = Record<string, unknown> | boolean

/** What a message's body, headers or reply may be described with. */
export type Schema = StandardSchemaV1 | JsonSchema

/**
 * The type a schema gives a value once validated: a Standard Schema's
 * output, a TypeBox schema's static type, and for plain JSON Schema what the
 * Fastify instance's type provider makes of it (`unknown` without one).
 */
export type OutputOf<S, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> =
  // any first, and out at once: TypeScript instantiates this with a type
  // parameter's constraint (an `any` schema) while it reports an error in a
  // handler, and a type provider asked to type `any` recurses without end.
  0 extends (1 & S)
    ? unknown
    : S extends StandardSchemaV1
      ? StandardSchemaV1.InferOutput<S>
      : S extends { static: infer T }
        ? T
        : FromProvider<TP, S>

/** The type a schema accepts: a Standard Schema's input (before transforms), otherwise as OutputOf. */
export type InputOf<S, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> =
  0 extends (1 & S) ? unknown : S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : OutputOf<S, TP>

/** What a type provider makes of schema S (as Fastify computes a route's body type). */
type ProviderType<TP extends FastifyTypeProvider, S> = (TP & { schema: S })['validator']

/**
 * The type provider's type for a plain JSON Schema; unknown (never any)
 * without one, and for a schema known only as "some JSON Schema" (which
 * providers such as json-schema-to-ts cannot type, and take long to fail on).
 */
type FromProvider<TP extends FastifyTypeProvider, S> =
  Record<string, unknown> extends S ? unknown : unknown extends ProviderType<TP, S> ? unknown : ProviderType<TP, S>

/** Marks what defineMessage() and defineRequest() return, across copies of the package (a registered symbol). */
export const DEFINITION = Symbol.for('fastify-warren.definition')

/** Where and how a message travels, shared by the services that send and receive it. */
export interface MessageDefinition<Body extends Schema = Schema, Headers extends Schema | undefined = Schema | undefined> {
  readonly [DEFINITION]: true
  readonly kind: 'message'
  /** The routing key it is published with (and a consumer binds). */
  readonly routingKey: string
  /** The exchange it is published to; the plugin's own exchange when absent. */
  readonly exchange: string | undefined
  /** The schema of its body. */
  readonly body: Body
  /** The schema of its application headers, if any. */
  readonly headers: Headers
  /** A one-line summary, for the AsyncAPI document. */
  readonly summary: string | undefined
  /** A longer description, for the AsyncAPI document. */
  readonly description: string | undefined
}

/** A request and its reply: what `request()` sends and what the consumer that serves it returns. */
export interface RequestDefinition<Body extends Schema = Schema, Reply extends Schema = Schema, Headers extends Schema | undefined = Schema | undefined> {
  readonly [DEFINITION]: true
  readonly kind: 'request'
  readonly routingKey: string
  readonly exchange: string | undefined
  readonly body: Body
  /** The schema of the reply. */
  readonly reply: Reply
  readonly headers: Headers
  readonly summary: string | undefined
  readonly description: string | undefined
}

/** Either kind of definition. */
export type Definition = MessageDefinition | RequestDefinition

/** What defineMessage() takes beside the routing key. */
export interface MessageSpec<Body extends Schema, Headers extends Schema | undefined> {
  /** The schema of the body: a Standard Schema or a JSON Schema (TypeBox included). */
  body: Body
  /** The schema of the application headers. */
  headers?: Headers
  /** The exchange; the plugin's own exchange when absent. */
  exchange?: string
  /** For the AsyncAPI document. */
  summary?: string
  /** For the AsyncAPI document. */
  description?: string
}

/** What defineRequest() takes beside the routing key. */
export interface RequestSpec<Body extends Schema, Reply extends Schema, Headers extends Schema | undefined> extends MessageSpec<Body, Headers> {
  /** The schema of the reply. */
  reply: Reply
}

const SPEC_KEYS = new Set(['body', 'headers', 'exchange', 'summary', 'description', 'reply'])

/** @internal Whether `value` is a schema the plugin can validate with. */
export function isSchema (value: unknown): value is Schema {
  if (typeof value === 'boolean') return true
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false
  const standard = (value as { '~standard'?: { validate?: unknown } })['~standard']
  if (standard !== undefined) return typeof standard?.validate === 'function'
  return typeof value === 'object' && !Array.isArray(value)
}

function assertSchema (name: string, value: unknown): Schema {
  if (!isSchema(value)) throw new FST_AMQP_INVALID_ARGUMENT(name, `expected a Standard Schema or a JSON Schema object, got ${describe(value)}`)
  return value
}

function define (kind: 'message' | 'request', routingKey: unknown, spec: unknown): Definition {
  const key = assertString('routingKey', routingKey, true, FST_AMQP_INVALID_ARGUMENT)
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw new FST_AMQP_INVALID_ARGUMENT('definition', `expected an object with a body schema, got ${describe(spec)}`)
  const s = spec as Record<string, unknown>
  for (const name of Object.keys(s)) {
    if (!SPEC_KEYS.has(name) || (name === 'reply' && kind === 'message')) throw new FST_AMQP_INVALID_ARGUMENT(`definition.${name}`, 'unknown option')
  }
  const text = (name: string): string | undefined => s[name] === undefined ? undefined : assertString(`definition.${name}`, s[name], true, FST_AMQP_INVALID_ARGUMENT)
  const long = (name: string): string | undefined => {
    if (s[name] === undefined) return undefined
    if (typeof s[name] !== 'string') throw new FST_AMQP_INVALID_ARGUMENT(`definition.${name}`, `expected a string, got ${describe(s[name])}`)
    return s[name] as string
  }
  const base = {
    [DEFINITION]: true as const,
    routingKey: key,
    exchange: text('exchange'),
    body: assertSchema('definition.body', s.body),
    headers: s.headers === undefined ? undefined : assertSchema('definition.headers', s.headers),
    summary: long('summary'),
    description: long('description')
  }
  return Object.freeze(kind === 'message'
    ? { ...base, kind }
    : { ...base, kind, reply: assertSchema('definition.reply', s.reply) })
}

/**
 * Defines a message: its routing key, the schema of its body (and of its
 * headers), and where it is published. Import the definition in every
 * service that publishes or consumes it: `publish()` and `consume()` then type
 * the body from the schema and validate it at run time.
 *
 * @example
 * export const orderPlaced = defineMessage('orders.placed', {
 *   body: Type.Object({ id: Type.String(), total: Type.Number() }),
 *   summary: 'An order was placed'
 * })
 */
export function defineMessage<const Body extends Schema, const Headers extends Schema | undefined = undefined> (
  routingKey: string,
  spec: MessageSpec<Body, Headers>
): MessageDefinition<Body, Headers> {
  return define('message', routingKey, spec) as MessageDefinition<Body, Headers>
}

/**
 * Defines a request and its reply: `request()` validates and types the
 * reply, the consumer that serves it gets a typed body and must return what
 * the reply schema describes.
 *
 * @example
 * export const priceQuote = defineRequest('pricing.quote', {
 *   body: z.object({ sku: z.string(), qty: z.number().int().positive() }),
 *   reply: z.object({ price: z.number() })
 * })
 */
export function defineRequest<const Body extends Schema, const Reply extends Schema, const Headers extends Schema | undefined = undefined> (
  routingKey: string,
  spec: RequestSpec<Body, Reply, Headers>
): RequestDefinition<Body, Reply, Headers> {
  return define('request', routingKey, spec) as RequestDefinition<Body, Reply, Headers>
}

/** @internal Whether `value` is a definition (from any copy of the package). */
export function isDefinition (value: unknown): value is Definition {
  return value !== null && typeof value === 'object' && (value as { [DEFINITION]?: unknown })[DEFINITION] === true
}
