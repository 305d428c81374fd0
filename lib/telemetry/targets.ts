import type { Attributes } from './otel'

/**
 * @internal `{exchange}:{routing key}[:{queue}]`, leaving out empty parts and
 * a queue named as the routing key (said once, as the conventions ask);
 * `amq.default` when all are empty.
 */
export function destinationName (exchange: string, routingKey: string, queue = ''): string {
  let name = exchange
  if (routingKey !== '') name = name === '' ? routingKey : `${name}:${routingKey}`
  if (queue !== '' && queue !== routingKey) name = name === '' ? queue : `${name}:${queue}`
  return name === '' ? 'amq.default' : name
}

/** @internal What every span and data point of one operation on one destination shares. */
export interface Target {
  readonly spanName: string
  /** The span's attributes that do not change from message to message. */
  readonly attributes: Readonly<Attributes>
  /** The metrics' attributes (fewer: no routing key, no client id). */
  readonly metric: Readonly<Attributes>
  /** The metrics' attributes with `error.type`, one per type seen. */
  readonly failed: Map<string, Readonly<Attributes>>
}

/** Past this many destinations the cache starts over: routing keys with ids in them must not grow it forever. */
const MAX_TARGETS = 1000

/**
 * @internal
 * The attributes of each operation on each destination, made once: building
 * them per message costs more than the span they go on.
 */
export class Targets {
  /** operation → exchange → routing key → queue: lookups of strings the caller holds, no key built per message. */
  private readonly byOperation = new Map<string, Map<string, Map<string, Map<string, Target>>>>()
  private size = 0

  constructor (private readonly common: Readonly<Attributes>) {}

  /**
   * `operation` (`publish`, `request`, `gather`, `process`) on a destination.
   * `type` is the conventions' operation type (`send`, `process`).
   */
  get (operation: string, type: string, exchange: string, routingKey: string, queue = ''): Target {
    const byQueue = this.byOperation.get(operation)?.get(exchange)?.get(routingKey)
    const target = byQueue?.get(queue)
    return target ?? this.add(operation, type, exchange, routingKey, queue)
  }

  private add (operation: string, type: string, exchange: string, routingKey: string, queue: string): Target {
    if (this.size >= MAX_TARGETS) {
      this.byOperation.clear()
      this.size = 0
    }
    const target = this.make(operation, type, exchange, routingKey, queue)
    const byExchange = getOrAdd(this.byOperation, operation)
    const byRoutingKey = getOrAdd(byExchange, exchange)
    getOrAdd(byRoutingKey, routingKey).set(queue, target)
    this.size++
    return target
  }

  private make (operation: string, type: string, exchange: string, routingKey: string, queue: string): Target {
    const destination = destinationName(exchange, routingKey, queue)
    const metric: Attributes = {
      'messaging.system': 'rabbitmq',
      'messaging.operation.name': operation,
      'messaging.operation.type': type,
      'messaging.destination.name': destination
    }
    if (this.common['server.address'] !== undefined) metric['server.address'] = this.common['server.address']
    if (this.common['server.port'] !== undefined) metric['server.port'] = this.common['server.port']
    const attributes: Attributes = { ...this.common, ...metric }
    if (routingKey !== '') attributes['messaging.rabbitmq.destination.routing_key'] = routingKey
    return {
      spanName: `${operation} ${destination}`,
      attributes: Object.freeze(attributes),
      metric: Object.freeze(metric),
      failed: new Map()
    }
  }
}

function getOrAdd<V> (map: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let inner = map.get(key)
  if (inner === undefined) map.set(key, inner = new Map())
  return inner
}

/** @internal The target's metric attributes with `error.type`. */
export function failedMetric (target: Target, type: string): Readonly<Attributes> {
  let attributes = target.failed.get(type)
  if (attributes === undefined) {
    attributes = Object.freeze({ ...target.metric, 'error.type': type })
    // Error types are codes and class names: few, but a thrown object's name is anyone's.
    if (target.failed.size < 50) target.failed.set(type, attributes)
  }
  return attributes
}
