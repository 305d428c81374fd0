import { copyProperties, type MessageProperties } from './codec'

/*
 * The x-death header as RabbitMQ 3.10 writes it (checked against a 3.10.8
 * broker): an array, newest first, of tables { count, reason, queue, time,
 * exchange, routing-keys, original-expiration? }. A death in a queue for a
 * reason already listed increments that entry's count and moves it to the
 * front; x-first-death-exchange/queue/reason are set once. 3.10 writes no
 * x-last-death-* headers. The copy loses its expiration property. When the
 * message already carried x-death, RabbitMQ re-encodes every table with its
 * keys sorted, and so does this.
 */

/** @internal Why a message was dead-lettered. */
export type DeathReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit'

/** @internal What dead-lettering needs to know of the message. */
export interface Dying {
  properties: MessageProperties
  /** The exchange it was last published to. */
  exchange: string
  /** Its routing key and CC keys, BCC excluded. */
  routingKeys: string[]
}

function sorted (table: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(table).sort()) out[key] = table[key]
  return out
}

/**
 * @internal
 * The properties of the copy of `msg` dead-lettered from `queue` for
 * `reason` at `now` (milliseconds).
 */
export function deadLetterProperties (msg: Dying, queue: string, reason: DeathReason, now: number): MessageProperties {
  const props = copyProperties(msg.properties)
  const headers = props.headers
  const previous = Array.isArray(headers['x-death']) ? headers['x-death'] as Array<Record<string, unknown>> : undefined
  let deaths: Array<Record<string, unknown>>
  if (previous === undefined) {
    const entry: Record<string, unknown> = {
      count: 1,
      reason,
      queue,
      time: { '!': 'timestamp', value: Math.floor(now / 1000) },
      exchange: msg.exchange,
      'routing-keys': [...msg.routingKeys]
    }
    if (props.expiration !== undefined) entry['original-expiration'] = props.expiration
    deaths = [entry]
  } else {
    const tables = previous.filter(d => d !== null && typeof d === 'object').map(sorted)
    const at = tables.findIndex(d => d.queue === queue && d.reason === reason)
    if (at >= 0) {
      const [entry] = tables.splice(at, 1)
      entry.count = (typeof entry.count === 'number' ? entry.count : 0) + 1
      tables.unshift(entry)
    } else {
      const entry: Record<string, unknown> = {
        count: 1,
        exchange: msg.exchange,
        queue,
        reason,
        'routing-keys': [...msg.routingKeys],
        time: { '!': 'timestamp', value: Math.floor(now / 1000) }
      }
      if (props.expiration !== undefined) entry['original-expiration'] = props.expiration
      tables.unshift(sorted(entry))
    }
    deaths = tables
  }
  headers['x-death'] = deaths
  if (!('x-first-death-exchange' in headers)) {
    headers['x-first-death-exchange'] = msg.exchange
    headers['x-first-death-queue'] = queue
    headers['x-first-death-reason'] = reason
  }
  props.headers = sorted(headers)
  props.expiration = undefined
  return props
}

/**
 * @internal
 * Whether dead-lettering `props` to `queue` would be a cycle RabbitMQ drops:
 * the queue already appears in x-death and no death on the way was a rejection.
 */
export function isDeadLetterCycle (props: MessageProperties, queue: string): boolean {
  const deaths = props.headers['x-death']
  if (!Array.isArray(deaths)) return false
  const tables = deaths as Array<Record<string, unknown>>
  if (!tables.some(d => d.queue === queue)) return false
  return !tables.some(d => d.reason === 'rejected')
}
