import { FST_AMQP_NOT_REGISTERED } from './core/errors'
import type { Amqp, Consumer } from './core/types'
import type { HostContext, Warren } from './core/warren'

/**
 * @internal
 * The `app.amqp` API over one core, for one caller: `thisArg` is the `this`
 * of the consumers' handlers it registers, `host` gives the schemas their
 * JSON Schemas may $ref. Framework-free: the host decides what both are.
 * `consumers`, when given, gets every consumer registered through it.
 */
export function facadeOf (core: Warren, thisArg: unknown, host: HostContext, consumers?: Set<Consumer>): Amqp {
  return {
    publish: (target: any, body: unknown, o?: any) => core.publish(target, body, o, host),
    request: (target: any, body: unknown, o?: any) => core.request(target, body, o, host),
    gather: (target: any, body: unknown, o?: any) => core.gather(target, body, o, host),
    health: () => core.health(),
    asyncapi: () => core.asyncapi(host),
    consume: consumers === undefined
      ? (target: any, second: any, third?: any) => core.consume(target, second, third, thisArg, host)
      : (target: any, second: any, third?: any) => {
          const consumer = core.consume(target, second, third, thisArg, host)
          consumers.add(consumer)
          return consumer
        }
  } as Amqp
}

/**
 * @internal
 * The `app.amqp` API when there is no default registration, only named ones
 * (`named`): every method fails with FST_AMQP_NOT_REGISTERED, rejecting
 * those that return a promise and throwing from the others.
 */
export function unregisteredFacade (named: readonly string[]): Amqp {
  const list = named.length === 0 ? 'none' : named.map((n) => `app.amqp.${n}`).join(', ')
  const fail = (method: string) => new FST_AMQP_NOT_REGISTERED(method, list)
  return {
    publish: () => Promise.reject(fail('publish')),
    request: () => Promise.reject(fail('request')),
    gather: () => Promise.reject(fail('gather')),
    health: () => { throw fail('health') },
    asyncapi: () => { throw fail('asyncapi') },
    consume: () => { throw fail('consume') }
  } as unknown as Amqp
}
