import type { FastifyInstance } from 'fastify'
import { FST_AMQP_INVALID_OPTION } from './core/errors'
import type { Amqp, AmqpDecorator, Consumer } from './core/types'
import type { Warren } from './core/warren'
import { facadeOf, unregisteredFacade } from './facade'

/**
 * @internal
 * One registration: its core, and whether the app owns it. A core the app
 * was given (`{ client }`) outlives the app: closing the app cancels only the
 * consumers registered through it, kept in `consumers`.
 */
export interface Registration {
  core: Warren
  /** The consumers registered through this app, when the core is shared (`{ client }`). */
  consumers: Set<Consumer> | undefined
}

/*
 * The plugin's registrations on Fastify instances: the default one ('') and
 * the named ones (`app.amqp.<name>`), and the `app.amqp` decorator over them.
 *
 * Each instance that registers the plugin keeps its own registrations under
 * REGISTRY. An encapsulated instance is an Object.create() of its parent, so
 * it sees its own and its ancestors' registrations, and its parent does not
 * see its own: the same rule as Fastify's decorators.
 */

const REGISTRY = Symbol('fastify-warren.registrations')

/** The registrations made on one instance, by name ('' is the default). */
type Registry = Map<string, Registration>

/** Bumped by every registration, so that a facade built before one is built again. */
let generation = 0

/** Every core registered in one Fastify app, its encapsulated instances included, keyed by the app's server (which they share). */
const apps = new WeakMap<object, Set<Registration>>()

/** Where an instance keeps its `app.amqp` (and the generation it was built in), built on first access. */
const FACADE = Symbol('fastify-warren.facade')

interface CachedFacade { generation: number, facade: AmqpDecorator }

/** The registrations `instance` sees: its own, then its ancestors' (the nearest wins). */
function visible (instance: object): Registry {
  const all: Registry = new Map()
  for (let o: object | null = instance; o !== null; o = Object.getPrototypeOf(o)) {
    const own = Object.hasOwn(o, REGISTRY) ? (o as Record<symbol, Registry>)[REGISTRY] : undefined
    if (own !== undefined) for (const [name, core] of own) if (!all.has(name)) all.set(name, core)
  }
  return all
}

/**
 * @internal
 * Records a registration on `app` (the instance the plugin is registered on),
 * with the core `make()` builds, and decorates `app.amqp` if no registration
 * is visible there yet. Throws FST_AMQP_INVALID_OPTION, before making the
 * core, when `name` (or the default) is registered already.
 */
export function addRegistration (app: FastifyInstance, name: string | undefined, make: () => Warren, shared = false): Warren {
  const seen = visible(app)
  const key = name ?? ''
  if (seen.has(key)) {
    throw new FST_AMQP_INVALID_OPTION('name', name === undefined
      ? 'fastify-warren is already registered here without a name: give this registration a name to reach another broker as app.amqp.<name>'
      : `fastify-warren is already registered here with the name "${name}"`)
  }
  const core = make()
  // The first registration this instance sees decorates it; a later one (named or default) joins it.
  if (seen.size === 0) app.decorate('amqp', { getter (this: FastifyInstance) { return amqpOf(this) } } as unknown as AmqpDecorator)
  let own = Object.hasOwn(app, REGISTRY) ? (app as unknown as Record<symbol, Registry>)[REGISTRY] : undefined
  if (own === undefined) {
    own = new Map()
    Object.defineProperty(app, REGISTRY, { value: own })
  }
  const registration: Registration = { core, consumers: shared ? new Set() : undefined }
  own.set(key, registration)
  generation++
  const all = apps.get(app.server) ?? new Set()
  apps.set(app.server, all.add(registration))
  return core
}

/**
 * @internal
 * Cancels the consumers of every registration in `app`'s Fastify app at
 * once, and waits for their handlers in flight: Fastify runs the preClose
 * hooks one after another, and one registration's drain must not keep
 * another's consumers taking messages meanwhile. Each registration's hook
 * calls it; after the first, there is nothing left to wait for.
 */
export async function stopAllConsumers (app: FastifyInstance): Promise<void> {
  await Promise.all([...apps.get(app.server) ?? []].map(stop))
}

/** Cancels a registration's consumers: all of its own core's, or those registered through this app on a shared one. */
async function stop (r: Registration): Promise<void> {
  if (r.consumers === undefined) return await r.core.stopConsumers()
  const list = [...r.consumers]
  r.consumers.clear()
  await Promise.all(list.map((c) => c.cancel()))
}

/**
 * `app.amqp` for one instance: the default registration's API, with each
 * named registration's under its name. One per Fastify instance, so that a
 * consumer's handler runs with `this` set to the (encapsulated) instance that
 * registered it, and JSON Schemas $ref that instance's shared schemas
 * (app.addSchema()).
 */
function amqpOf (instance: FastifyInstance): AmqpDecorator {
  // An own property, read on every `app.amqp`: an encapsulated instance must not find its parent's.
  const hit = Object.hasOwn(instance, FACADE) ? (instance as unknown as Record<symbol, CachedFacade>)[FACADE] : undefined
  if (hit !== undefined && hit.generation === generation) return hit.facade
  const cores = visible(instance)
  const host = { schemas: () => instance.getSchemas() }
  const named = [...cores.keys()].filter((n) => n !== '')
  const main = cores.get('')
  const facade: Amqp = main === undefined ? unregisteredFacade(named) : facadeOf(main.core, instance, host, main.consumers)
  for (const name of named) {
    const r = cores.get(name) as Registration
    Object.defineProperty(facade, name, { value: facadeOf(r.core, instance, host, r.consumers), enumerable: true })
  }
  Object.defineProperty(instance, FACADE, { value: { generation, facade }, configurable: true, writable: true })
  return facade as AmqpDecorator
}
