import type * as Api from '@opentelemetry/api'

/*
 * The app's @opentelemetry/api, if it has one. It is an optional peer
 * dependency: the app's copy is the one its SDK registered itself with, and a
 * copy of our own would not see that SDK.
 */

let loaded: typeof Api | undefined
try {
  loaded = require('@opentelemetry/api') as typeof Api
} catch {
  loaded = undefined
}

/** @internal The API, or undefined when the app has none installed. */
export const api = loaded

/** @internal The instrumentation scope: the plugin's name and version. */
export const SCOPE = 'fastify-warren'
export const VERSION: string = (() => {
  try {
    return (require('../../package.json') as { version: string }).version
  } catch {
    return '0.0.0'
  }
})()

/** @internal Span and metric attributes. */
export type Attributes = Record<string, string | number | boolean>

/**
 * @internal Reads trace context from a delivery's headers. They come from
 * the broker, so from anyone: only own string (or byte) values are read.
 */
export const getter: Api.TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = Object.hasOwn(carrier, key) ? carrier[key] : undefined
    if (typeof value === 'string') return value
    if (Buffer.isBuffer(value)) return value.toString('utf8')
    return undefined
  }
}

/** @internal Writes trace context into the headers of a message being built. */
export const setter: Api.TextMapSetter<Record<string, unknown>> = {
  set: (carrier, key, value) => { carrier[key] = value }
}

/** @internal A low-cardinality class of error (`error.type`): its FST_AMQP_* code, else its name. */
export function errorType (err: unknown): string {
  try {
    const code = (err as { code?: unknown } | null)?.code
    if (typeof code === 'string' && code !== '') return code
    const name = (err as { name?: unknown } | null)?.name
    return typeof name === 'string' && name !== '' ? name : 'Error'
  } catch {
    return 'Error'
  }
}

/** @internal An error's message, whatever was thrown. */
export function safeMessage (err: unknown): string {
  try {
    const m = (err as { message?: unknown } | null)?.message
    return typeof m === 'string' ? m : String(err)
  } catch {
    return 'error'
  }
}
