import { bindingMatches, type ExchangeType } from './routing'

/*
 * Exchanges and their bindings. A binding leads to a queue or, for
 * exchange-to-exchange bindings, to another exchange whose own bindings are
 * followed in turn (each exchange once per message).
 */

/** @internal A binding from an exchange to a queue or an exchange. */
export interface Binding {
  destination: string
  toExchange: boolean
  pattern: string
  args: Record<string, unknown>
}

/** @internal An exchange of the in-memory broker. */
export interface MemoryExchange {
  name: string
  type: ExchangeType
  durable: boolean
  autoDelete: boolean
  internal: boolean
  args: Record<string, unknown>
  bindings: Binding[]
}

/** @internal The exchanges every vhost starts with. */
export function builtinExchanges (): MemoryExchange[] {
  const make = (name: string, type: ExchangeType): MemoryExchange =>
    ({ name, type, durable: true, autoDelete: false, internal: false, args: {}, bindings: [] })
  return [
    make('', 'direct'),
    make('amq.direct', 'direct'),
    make('amq.fanout', 'fanout'),
    make('amq.topic', 'topic'),
    make('amq.headers', 'headers'),
    make('amq.match', 'headers')
  ]
}

/** Two bindings are the same when destination, pattern and arguments are. */
export function sameBinding (a: Binding, b: Binding): boolean {
  return a.destination === b.destination && a.toExchange === b.toExchange && a.pattern === b.pattern &&
    JSON.stringify(a.args) === JSON.stringify(b.args)
}

/**
 * @internal
 * The queues a message published to `start` with `keys` and `headers`
 * reaches. The default exchange routes to the queue named by the key.
 */
export function routeFrom (
  start: MemoryExchange,
  keys: string[],
  headers: Record<string, unknown>,
  exchangeNamed: (name: string) => MemoryExchange | undefined,
  queueExists: (name: string) => boolean
): Set<string> {
  const queues = new Set<string>()
  if (start.name === '') {
    for (const key of keys) if (queueExists(key)) queues.add(key)
    return queues
  }
  const seen = new Set<string>()
  const visit = (ex: MemoryExchange): void => {
    if (seen.has(ex.name)) return
    seen.add(ex.name)
    for (const b of ex.bindings) {
      if (!bindingMatches(ex.type, b.pattern, b.args, keys, headers)) continue
      if (!b.toExchange) {
        queues.add(b.destination)
      } else {
        const next = exchangeNamed(b.destination)
        if (next) visit(next)
      }
    }
  }
  visit(start)
  return queues
}
