import { Warren, type HostContext } from './core/warren'
import { FST_AMQP_CLOSED, FST_AMQP_INVALID_OPTION, FST_AMQP_NOT_STARTED } from './core/errors'
import { childOf, silentLog, type Log } from './core/log'
import { normalizeOptions, describe, type NormalizedOptions } from './core/options'
import type { Consumer, WarrenClient, WarrenClientOptions } from './core/types'

/*
 * The framework-free face of the core: what a worker with no web framework
 * uses, what the Express adapter hands to routes, and what the Fastify plugin
 * wraps. Every host gets the same options, errors, lifecycle and guarantees,
 * because they all run this.
 */

/** @internal The core behind a client, for the hosts (Fastify, Express) that wrap it. */
export const kCore = Symbol('fastify-warren.core')

/** @internal A client with its core reachable by the hosts. */
export interface ClientInternals extends WarrenClient {
  readonly [kCore]: Warren
  /** Connects without starting consumers: the Fastify plugin connects at register and starts consumers on ready. */
  connect (): Promise<void>
  /** Registers a consumer whose handler runs with `thisArg` as `this` and whose JSON Schemas $ref `host`'s schemas. */
  consumeAs (target: unknown, second: unknown, third: unknown, thisArg: unknown, host?: HostContext): Consumer
}

function assertLogger (value: unknown): Log {
  if (value === undefined) return silentLog
  const l = value as Record<string, unknown>
  if (value === null || typeof value !== 'object' || ['debug', 'info', 'warn', 'error'].some((m) => typeof l[m] !== 'function')) {
    throw new FST_AMQP_INVALID_OPTION('logger', `expected a pino-compatible logger (debug, info, warn and error methods), got ${describe(value)}`)
  }
  return value as Log
}

/**
 * Creates the broker client without any web framework: for workers, scripts,
 * Express apps (see `fastify-warren/express`) and Fastify apps that share one
 * client (`app.register(warren, { client })`). It takes every option of the
 * Fastify plugin, validated by the same code (FST_AMQP_INVALID_OPTION), plus
 * `logger`. Nothing connects until `start()`.
 *
 * @example
 * const warren = createWarren({ url: 'amqp://127.0.0.1', logger: pino() })
 * warren.consume('orders.created', async (msg) => { await save(msg.body) })
 * await warren.start()
 * process.once('SIGTERM', () => warren.close())
 */
export function createWarren (options: WarrenClientOptions): WarrenClient {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new FST_AMQP_INVALID_OPTION('options', `expected an object, got ${describe(options)}`)
  }
  const { logger, ...rest } = options
  const opts = normalizeOptions(rest)
  const log = childOf(assertLogger(logger), { plugin: 'amqp', ...(opts.name === undefined ? {} : { broker: opts.name }) })
  return new Client(new Warren(opts, log))
}

/** @internal A client over options already normalised, logging to `log` (the Fastify plugin's own). */
export function clientOf (opts: NormalizedOptions, log: Log): ClientInternals {
  return new Client(new Warren(opts, log))
}

/** @internal Whether `value` is a client made by createWarren(). */
export function isClient (value: unknown): value is ClientInternals {
  return value instanceof Client
}

/** A rejected promise for a call made before start(): nothing is connected to send it. */
function notStarted (method: string): Promise<never> {
  return Promise.reject(new FST_AMQP_NOT_STARTED(method))
}

class Client implements ClientInternals {
  private connecting: Promise<void> | undefined
  private starting: Promise<void> | undefined
  private closed = false

  readonly [kCore]: Warren

  constructor (core: Warren) {
    this[kCore] = core
  }

  connect (): Promise<void> {
    if (this.closed && this.connecting === undefined) return Promise.reject(new FST_AMQP_CLOSED('connect() after close()'))
    this.connecting ??= this[kCore].connect()
    return this.connecting as Promise<void>
  }

  start (): Promise<void> {
    if (this.closed) return Promise.reject(new FST_AMQP_CLOSED('start() after close()'))
    this.starting ??= this.connect().then(() => this[kCore].startConsumers())
    return this.starting as Promise<void>
  }

  close (): Promise<void> {
    this.closed = true
    return this[kCore].close()
  }

  publish (target: any, body: unknown, options?: any): Promise<any> {
    if (this.connecting === undefined) return notStarted('publish')
    return this[kCore].publish(target, body, options)
  }

  request (target: any, body: unknown, options?: any): Promise<any> {
    if (this.connecting === undefined) return notStarted('request')
    return this[kCore].request(target, body, options)
  }

  gather (target: any, body: unknown, options?: any): Promise<any> {
    if (this.connecting === undefined) return notStarted('gather')
    return this[kCore].gather(target, body, options)
  }

  consume (target: any, second: any, third?: any): Consumer {
    return this[kCore].consume(target, second, third, this)
  }

  consumeAs (target: unknown, second: unknown, third: unknown, thisArg: unknown, host?: HostContext): Consumer {
    return this[kCore].consume(target, second, third, thisArg, host)
  }

  health () {
    return this[kCore].health()
  }

  asyncapi () {
    return this[kCore].asyncapi()
  }
}
