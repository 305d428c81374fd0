// First: guards amqplib's header decoder before amqplib loads (see amqplib-guard.ts).
import { decodeGuarded } from './core/amqplib-guard'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Warren } from './core/warren'
import { errors as allErrors } from './core/errors'
import { normalizeOptions } from './core/options'
import { noRetry as markNoRetry } from './core/retry'
import type * as types from './core/types'

/**
 * fastify-warren: RabbitMQ for Fastify.
 *
 * Registers `app.amqp` with `publish()`, `request()`, `gather()` and `consume()`.
 * Registration waits for the first connection, so `app.ready()` rejects with
 * a coded error when the broker cannot be reached. Consumers start on
 * `ready` and are drained on `close`.
 *
 * @example
 * await app.register(warren, { url: 'amqp://guest:guest@127.0.0.1:5672' })
 * await app.amqp.publish('process', { hello: 'world' })
 */
async function fastifyWarren (app: FastifyInstance, options: fastifyWarren.WarrenOptions): Promise<void> {
  const opts = normalizeOptions(options)
  const log = app.log.child({ plugin: 'amqp' })
  const pluginTimeout = app.initialConfig.pluginTimeout ?? 10000
  if (pluginTimeout > 0 && opts.connectTimeout >= pluginTimeout) {
    log.warn({ connectTimeout: opts.connectTimeout, pluginTimeout }, 'connectTimeout is not below Fastify\'s pluginTimeout: a slow broker fails boot with FST_ERR_PLUGIN_TIMEOUT instead of FST_AMQP_CONNECT_TIMEOUT')
  }
  const core = new Warren(opts, log)
  if (!decodeGuarded) warnUnguarded(log)

  // One facade per Fastify instance, so a consumer's handler runs with `this`
  // set to the (encapsulated) instance that registered it.
  const facades = new WeakMap<object, types.Amqp>()
  const facadeFor = (instance: FastifyInstance): types.Amqp => {
    let facade = facades.get(instance)
    if (!facade) {
      facade = {
        publish: (routingKey, body, o) => core.publish(routingKey, body, o),
        request: (routingKey, body, o) => core.request(routingKey, body, o),
        gather: (routingKey, body, o) => core.gather(routingKey, body, o),
        health: () => core.health(),
        consume: (routingKey, handler, o) => core.consume(routingKey, handler as types.MessageHandler, o, instance)
      }
      facades.set(instance, facade)
    }
    return facade
  }
  app.decorate('amqp', {
    getter (this: FastifyInstance) { return facadeFor(this) }
  } as unknown as types.Amqp)

  // Consumers stop before the HTTP server and other plugins close, so their
  // handlers finish while databases and the publisher are still open.
  app.addHook('onReady', () => core.startConsumers())
  app.addHook('preClose', () => core.stopConsumers())
  app.addHook('onClose', () => core.close())

  await core.connect()
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
  export type PublishOptions = types.PublishOptions
  export type PublishReceipt = types.PublishReceipt
  export type RequestOptions = types.RequestOptions
  export type GatherOptions = types.GatherOptions
  export type RemoteError = types.RemoteError
  export type GatherReply<T = any> = types.GatherReply<T>
  export type GatherFailure = types.GatherFailure
  export type GatherResult<T = any> = types.GatherResult<T>
  export type ConsumeOptions = types.ConsumeOptions
  export type RetryOptions = types.RetryOptions
  export type NextStage = types.NextStage
  export type ExchangeType = types.ExchangeType
  export type WarrenMessage<T = any> = types.WarrenMessage<T>
  export type MessageHandler<T = any, R = unknown> = types.MessageHandler<T, R>
  export type Consumer = types.Consumer
  export type Health = types.Health
  export type ConsumerHealth = types.ConsumerHealth
  export type Amqp = types.Amqp
  /** Every error constructor, by code: `err instanceof errors.FST_AMQP_RPC_TIMEOUT`. */
  export const errors = allErrors
  /** Marks an error thrown by a handler as not worth another try: its message goes to the dead-letter queue at once. */
  export const noRetry = markNoRetry
  /** The plugin itself, for `import { warren } from 'fastify-warren'`. */
  export const warren = fastifyWarren
}

// `require('fastify-warren')`, `import warren from 'fastify-warren'` and `.default` all give the plugin.
Object.defineProperty(fastifyWarren, 'default', { value: fastifyWarren, enumerable: false })

// Node's ESM loader finds a CommonJS module's named exports by scanning its
// source for `exports.name =`; the namespace above compiles to a form it cannot
// see. This never runs, but lets `import { errors, warren } from 'fastify-warren'` work.
if (false as boolean) exports.errors = exports.warren = exports.noRetry = undefined

export = fastifyWarren
