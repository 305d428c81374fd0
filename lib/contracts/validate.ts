import type { StandardSchemaV1 } from '@standard-schema/spec'
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import { FST_AMQP_INVALID_ARGUMENT, FST_AMQP_INVALID_MESSAGE, FST_AMQP_INVALID_REPLY } from '../core/errors'
import type { JsonSchema, Schema } from './define'

/*
 * Run-time validation of message bodies, headers and replies. JSON Schema
 * (TypeBox's included) is compiled once with ajv, as Fastify compiles a
 * route's schema (ajv 8 and ajv-formats, as Fastify 5 uses them), and may
 * $ref the schemas added with app.addSchema(). A Standard Schema goes through
 * its own `~standard.validate`.
 *
 * Unlike a route's body, a message is never coerced or stripped: what a
 * schema does not accept is invalid. Defaults in a JSON Schema fill in what a
 * received message lacks; an outgoing message is checked, never changed.
 */

/** One validation error, shaped as ajv's (and so as Fastify's `err.validation`). */
export interface ValidationIssue {
  /** JSON Pointer to the failing value: `/items/0/qty`, `''` for the whole value. */
  instancePath: string
  message: string
  /** The JSON Schema keyword that failed (ajv), or `standard` for a Standard Schema issue. */
  keyword: string
  params: Record<string, unknown>
  schemaPath: string
}

/** @internal The result of a check: the value to use (a Standard Schema's output, or the value with defaults), or the errors. */
export type Checked = { ok: true, value: unknown } | { ok: false, issues: ValidationIssue[] }

/** @internal A compiled check, synchronous whenever the schema library is. */
export type Check = (value: unknown) => Checked | Promise<Checked>

/** @internal Whether a check is for a message received (defaults applied) or one about to be sent (never changed). */
export type Direction = 'in' | 'out'

function isStandard (schema: Schema): schema is StandardSchemaV1 {
  return typeof schema !== 'boolean' && (schema as { '~standard'?: unknown })['~standard'] !== undefined
}

function fromAjv (errors: ErrorObject[] | null | undefined): ValidationIssue[] {
  return (errors ?? []).map((e) => ({
    instancePath: e.instancePath,
    message: e.message ?? 'is invalid',
    keyword: e.keyword,
    params: e.params as Record<string, unknown>,
    schemaPath: e.schemaPath
  }))
}

/** JSON Pointer escaping of one path segment. */
function pointer (segment: unknown): string {
  const key = typeof segment === 'object' && segment !== null && 'key' in segment ? (segment as { key: unknown }).key : segment
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1')
}

function fromStandard (issues: readonly StandardSchemaV1.Issue[]): ValidationIssue[] {
  return issues.map((issue) => ({
    instancePath: issue.path && issue.path.length > 0 ? '/' + issue.path.map(pointer).join('/') : '',
    message: issue.message,
    keyword: 'standard',
    params: {},
    schemaPath: ''
  }))
}

function standardCheck (schema: StandardSchemaV1): Check {
  const settle = (result: StandardSchemaV1.Result<unknown>): Checked => result.issues === undefined
    ? { ok: true, value: result.value }
    : { ok: false, issues: fromStandard(result.issues) }
  return (value) => {
    const result = schema['~standard'].validate(value)
    return result instanceof Promise ? result.then(settle) : settle(result)
  }
}

function newAjv (useDefaults: boolean): Ajv {
  const ajv = new Ajv({ coerceTypes: false, useDefaults, removeAdditional: false, addUsedSchema: false, allErrors: false })
  addFormats(ajv)
  return ajv
}

/**
 * @internal
 * Compiles schemas into checks, once each (per direction). One per plugin
 * instance: its ajv instances hold the schemas added with app.addSchema().
 */
export class Validators {
  private readonly ajv: Record<Direction, Ajv | undefined> = { in: undefined, out: undefined }
  private readonly compiled: Record<Direction, WeakMap<object, Check>> = { in: new WeakMap(), out: new WeakMap() }

  /**
   * The check for `schema`. `external` gives the schemas its $refs may name
   * (the Fastify instance's addSchema() ones). Throws FST_AMQP_INVALID_ARGUMENT,
   * naming `name`, for a schema ajv cannot compile.
   */
  check (schema: Schema, direction: Direction, name: string, external?: () => Record<string, unknown>): Check {
    if (typeof schema === 'boolean') return (value) => schema ? { ok: true, value } : { ok: false, issues: [{ instancePath: '', message: 'no value is allowed', keyword: 'false schema', params: {}, schemaPath: '#' }] }
    const cache = this.compiled[direction]
    let check = cache.get(schema)
    if (check === undefined) {
      check = isStandard(schema) ? standardCheck(schema) : this.compile(schema, direction, name, external)
      cache.set(schema, check)
    }
    return check
  }

  private compile (schema: Exclude<JsonSchema, boolean>, direction: Direction, name: string, external?: () => Record<string, unknown>): Check {
    const ajv = this.ajv[direction] ??= newAjv(direction === 'in')
    for (const shared of Object.values(external?.() ?? {})) {
      const id = (shared as { $id?: unknown })?.$id
      if (typeof id === 'string' && ajv.getSchema(id) === undefined) ajv.addSchema(shared as object)
    }
    let validate: ValidateFunction
    try {
      // A schema with an $id ajv already holds (added with app.addSchema()) is that one.
      const id = (schema as { $id?: unknown }).$id
      validate = (typeof id === 'string' ? ajv.getSchema(id) : undefined) ?? ajv.compile(schema)
    } catch (err) {
      throw new FST_AMQP_INVALID_ARGUMENT(name, `the JSON Schema does not compile: ${(err as Error).message}`, { cause: err })
    }
    return (value) => validate(value) ? { ok: true, value } : { ok: false, issues: fromAjv(validate.errors) }
  }
}

/**
 * @internal
 * Runs `check` and calls `then` with its result: at once when the check is
 * synchronous (no promise on the hot path), else when it settles.
 */
export function whenChecked<T> (result: Checked | Promise<Checked>, then: (checked: Checked) => T): T | Promise<T> {
  return result instanceof Promise ? result.then(then) : then(result)
}

/** "qty must be >= 1" for the first issue, and how many more there are. */
function summary (issues: ValidationIssue[]): string {
  const first = issues[0]
  const where = first === undefined || first.instancePath === '' ? '' : `${first.instancePath} `
  const text = first === undefined ? 'invalid' : `${where}${first.message}`
  return issues.length > 1 ? `${text} (and ${issues.length - 1} more)` : text
}

/** @internal FST_AMQP_INVALID_MESSAGE for a body or headers that failed their schema, shaped as Fastify's validation errors. */
export function invalidMessage (context: 'body' | 'headers', routingKey: string, issues: ValidationIssue[]): Error {
  return Object.assign(new FST_AMQP_INVALID_MESSAGE(context, routingKey, summary(issues)), { validation: issues, validationContext: context })
}

/** @internal FST_AMQP_INVALID_REPLY for a reply that failed its schema. */
export function invalidReply (routingKey: string, issues: ValidationIssue[]): Error {
  return Object.assign(new FST_AMQP_INVALID_REPLY(routingKey, summary(issues)), { validation: issues, validationContext: 'body' })
}
