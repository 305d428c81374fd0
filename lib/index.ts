// First: guards amqplib's header decoder before amqplib loads (see amqplib-guard.ts).
import { decodeGuarded } from './core/amqplib-guard'
import type { FastifyInstance, FastifyTypeProvider, FastifyTypeProviderDefault } from 'fastify'
import fp from 'fastify-plugin'
import type { Warren } from './core/warren'
import { clientOf, createWarren as create, isClient, kCore } from './client'
import { errors as allErrors, FST_AMQP_INVALID_OPTION } from './core/errors'
import { assertName, normalizeOptions, type NormalizedAsyncApi } from './core/options'
import { asyncApiPage } from './contracts/ui'
import { defineMessage as define, defineRequest as defineReq } from './contracts/define'
import { noRetry as markNoRetry } from './core/retry'
import { addRegistration, stopAllConsumers } from './registrations'
import type * as types from './core/types'
import * as coreTypes from './core/types'
import type * as contracts from './contracts/define'

/**
 * fastify-warren: RabbitMQ for Fastify.
 *
 * Registers `app.amqp` with `publish()`, `request()`, `gather()` and `consume()`;
 * with the `name` option, `app.amqp.<name>`, over connections of its own.
 * Registration waits for the first connection, so `app.ready()` rejects with
 * a coded error when the broker cannot be reached. Consumers start on
 * `ready` and are drained on `close`.
 *
 * @example
 * await app.register(warren, { url: 'amqp://guest:guest@127.0.0.1:5672' })
 * await app.amqp.publish('process', { hello: 'world' })
 */
async function fastifyWarren (app: FastifyInstance, options: fastifyWarren.PluginOptions): Promise<void> {
  if (options !== null && typeof options === 'object' && 'client' in options) return await useClient(app, options)
  const opts = normalizeOptions(options)
  const log = app.log.child(opts.name === undefined ? { plugin: 'amqp' } : { plugin: 'amqp', broker: opts.name })
  const pluginTimeout = app.initialConfig.pluginTimeout ?? 10000
  if (pluginTimeout > 0 && opts.connectTimeout >= pluginTimeout) {
    log.warn({ connectTimeout: opts.connectTimeout, pluginTimeout }, 'connectTimeout is not below Fastify\'s pluginTimeout: a slow broker fails boot with FST_ERR_PLUGIN_TIMEOUT instead of FST_AMQP_CONNECT_TIMEOUT')
  }
  if (!decodeGuarded) warnUnguarded(log)
  // The same client createWarren() makes, with Fastify's logger; `app.amqp`
  // (the default registration) or `app.amqp.<name>`, each with its own.
  const client = clientOf(opts, log)
  const core = addRegistration(app, opts.name, () => client[kCore])
  serveRoutes(app, core)

  // Consumers stop before the HTTP server and other plugins close, so their
  // handlers finish while databases and the publisher are still open; those
  // of every registration in the app at once.
  app.addHook('onReady', () => client.start())
  app.addHook('preClose', () => stopAllConsumers(app))
  app.addHook('onClose', () => client.close())

  await client.connect()
}

/**
 * `{ client }`: a client made elsewhere by createWarren(), shared with this
 * app. ready() starts it if it has not started; close() cancels the consumers
 * registered through this app and leaves the client open for its owner.
 */
async function useClient (app: FastifyInstance, options: { client?: unknown, name?: unknown }): Promise<void> {
  for (const key of Object.keys(options)) {
    if (key !== 'client' && key !== 'name') throw new FST_AMQP_INVALID_OPTION(key, 'with `client`, options are the client\'s own: give them to createWarren()')
  }
  const client = options.client
  if (!isClient(client)) throw new FST_AMQP_INVALID_OPTION('client', 'expected a client made by createWarren()')
  const core = client[kCore]
  const name = options.name === undefined ? core.opts.name : assertName(options.name)
  addRegistration(app, name, () => core, true)
  serveRoutes(app, core)
  app.addHook('onReady', () => client.start())
  app.addHook('preClose', () => stopAllConsumers(app))
}

/** The AsyncAPI document and the health route, where the options ask for them. */
function serveRoutes (app: FastifyInstance, core: Warren): void {
  const opts = core.opts
  const host = { schemas: () => app.getSchemas() }
  if (opts.asyncapi.serve) serveAsyncApi(app, opts.asyncapi, () => core.asyncapi(host))
  if (opts.healthRoute !== undefined) {
    app.get(opts.healthRoute, async (_req, reply) => {
      const health = core.health()
      return reply.code(health.status === 'ok' ? 200 : 503).send(health)
    })
  }
}

/** The AsyncAPI document at `<path>.json`, and a page rendering it at `<path>`. */
function serveAsyncApi (app: FastifyInstance, o: NormalizedAsyncApi, document: () => unknown): void {
  const jsonUrl = `${o.path}.json`
  app.get(jsonUrl, async () => document())
  const page = asyncApiPage({ title: o.title, jsonUrl, script: o.script, stylesheet: o.stylesheet })
  app.get(o.path, async (_req, reply) => reply.type('text/html; charset=utf-8').send(page))
}

let warned = false
/** Once per process: amqplib was loaded before fastify-warren, so its header decoder is not guarded. */
function warnUnguarded (log: { warn: (o: object, m: string) => void }): void {
  if (warned) return
  warned = true
  log.warn({}, 'amqp: amqplib was loaded before fastify-warren, so a message whose headers nest too deep to decode closes the consuming connection instead of going to the dead-letter queue; import fastify-warren first')
}

fp(fastifyWarren, { fastify: '5.x', name: 'fastify-warren' })

namespace fastifyWarren {
  export type WarrenOptions = types.WarrenOptions
  /** The plugin's options: a broker's (WarrenOptions), or a client made by createWarren() to share, with an optional name. */
  export type PluginOptions = types.WarrenOptions | { client: types.WarrenClient, name?: string }
  export type WarrenClient = types.WarrenClient
  export type WarrenClientOptions = types.WarrenClientOptions
  export type TlsOptions = types.TlsOptions
  export type PublishOptions = types.PublishOptions
  export type PublishReceipt = types.PublishReceipt
  export type RequestOptions = types.RequestOptions
  export type GatherOptions = types.GatherOptions
  export type RemoteError = types.RemoteError
  export type GatherReply<T = unknown> = types.GatherReply<T>
  export type GatherFailure = types.GatherFailure
  export type GatherResult<T = unknown> = types.GatherResult<T>
  export type ConsumeOptions = types.ConsumeOptions
  export type RetryOptions = types.RetryOptions
  export type NextStage = types.NextStage
  export type ExchangeType = types.ExchangeType
  export type WarrenMessage<T = unknown, H = Record<string, any>> = types.WarrenMessage<T, H>
  export type MessageProperties = types.MessageProperties
  export type MessageHandler<T = unknown, R = unknown, H = Record<string, any>> = types.MessageHandler<T, R, H>
  export type Consumer = types.Consumer
  export type Health = types.Health
  export type ConsumerHealth = types.ConsumerHealth
  export type Amqp<TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault> = types.Amqp<TypeProvider>
  export type AmqpDecorator<TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault> = types.AmqpDecorator<TypeProvider>
  // An alias, not a copy, so that `declare module 'fastify-warren' { interface AmqpRegistrations { ... } }` adds to the interface app.amqp's type reads.
  export import AmqpRegistrations = coreTypes.AmqpRegistrations
  export type AsyncApiOptions = types.AsyncApiOptions
  export type AsyncApiDocument = types.AsyncApiDocument
  export type ConsumeSchema = types.ConsumeSchema
  export type ValidationIssue = types.ValidationIssue
  export type Schema = contracts.Schema
  export type JsonSchema = contracts.JsonSchema
  export type MessageDefinition<Body extends contracts.Schema = contracts.Schema, Headers extends contracts.Schema | undefined = contracts.Schema | undefined> = contracts.MessageDefinition<Body, Headers>
  export type RequestDefinition<Body extends contracts.Schema = contracts.Schema, Reply extends contracts.Schema = contracts.Schema, Headers extends contracts.Schema | undefined = contracts.Schema | undefined> = contracts.RequestDefinition<Body, Reply, Headers>
  export type Definition = contracts.Definition
  export type InputOf<S, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> = contracts.InputOf<S, TP>
  export type OutputOf<S, TP extends FastifyTypeProvider = FastifyTypeProviderDefault> = contracts.OutputOf<S, TP>
  /** Defines a message: routing key, body schema, headers schema, exchange. See defineMessage in the docs. */
  export const defineMessage = define
  /** Defines a request and its reply. See defineRequest in the docs. */
  export const defineRequest = defineReq
  /** Every error constructor, by code: `err instanceof errors.FST_AMQP_RPC_TIMEOUT`. */
  export const errors = allErrors
  /** Marks an error thrown by a handler as not worth another try: its message goes to the dead-letter queue at once. */
  export const noRetry = markNoRetry
  /** The client without a web framework: for workers, Express (fastify-warren/express) and Fastify apps sharing one. */
  export const createWarren = create
  /** The plugin itself, for `import { warren } from 'fastify-warren'`. */
  export const warren = fastifyWarren
}

// `require('fastify-warren')`, `import warren from 'fastify-warren'` and `.default` all give the plugin.
Object.defineProperty(fastifyWarren, 'default', { value: fastifyWarren, enumerable: false })

// Node's ESM loader finds a CommonJS module's named exports by scanning its
// source for `exports.name =`; the namespace above compiles to a form it cannot
// see. This never runs, but lets `import { errors, warren } from 'fastify-warren'` work.
if (false as boolean) exports.errors = exports.warren = exports.createWarren = exports.noRetry = exports.defineMessage = exports.defineRequest = undefined

export = fastifyWarren
