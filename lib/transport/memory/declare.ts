import { intArg, typeClass, typeName } from './codec'
import { preconditionFailed } from './errors'
import type { MemoryExchange } from './exchanges'
import type { QueueDeclaration, QueuePolicy } from './queue'

/*
 * Redeclaring with other settings, as RabbitMQ 3.10 judges it (texts checked
 * against a real broker). Flags are compared first, then the arguments
 * RabbitMQ checks; others (x-foo) are ignored. Integer widths are one type
 * class, so 10 sent as a byte equals 10 sent as a short. The text names a
 * value with its type only when the other side is absent:
 *   received '100000' but current is '100'
 *   received none but current is the value '100' of type 'byte'
 */

/** The queue arguments RabbitMQ compares on redeclare. */
const CHECKED_QUEUE_ARGS = [
  'x-expires', 'x-message-ttl', 'x-dead-letter-exchange', 'x-dead-letter-routing-key',
  'x-max-length', 'x-max-length-bytes', 'x-max-in-memory-length', 'x-max-in-memory-bytes',
  'x-max-priority', 'x-overflow', 'x-queue-mode', 'x-queue-type', 'x-single-active-consumer',
  'x-delivery-limit', 'x-queue-master-locator', 'x-queue-leader-locator', 'x-quorum-initial-group-size',
  'x-dead-letter-strategy'
]

function inequivalent (arg: string, kind: 'queue' | 'exchange', name: string, received: string, current: string): Error {
  return preconditionFailed(`inequivalent arg '${arg}' for ${kind} '${name}' in vhost '/': received ${received} but current is ${current}`)
}

function flag (value: boolean): string {
  return `'${value}'`
}

function describe (value: unknown): string {
  return `the value '${String(value)}' of type '${typeName(value)}'`
}

function sameArg (a: unknown, b: unknown): boolean {
  return typeClass(a) === typeClass(b) && (a === b || JSON.stringify(a) === JSON.stringify(b))
}

/** Compares one argument; an absent x-queue-type is 'classic'. */
function compareArg (arg: string, name: string, received: unknown, current: unknown): void {
  if (arg === 'x-queue-type') {
    if ((received ?? 'classic') === 'classic' && (current ?? 'classic') === 'classic') return
  }
  if (received === undefined && current === undefined) return
  if (received === undefined) throw inequivalent(arg, 'queue', name, 'none', describe(current))
  if (current === undefined) throw inequivalent(arg, 'queue', name, describe(received), 'none')
  if (!sameArg(received, current)) throw inequivalent(arg, 'queue', name, `'${String(received)}'`, `'${String(current)}'`)
}

/** @internal Throws the 406 RabbitMQ answers when `decl` differs from the queue `current`. */
export function compareQueue (current: QueueDeclaration, decl: QueueDeclaration): void {
  const name = current.name
  if (current.durable !== decl.durable) throw inequivalent('durable', 'queue', name, flag(decl.durable), flag(current.durable))
  if (current.autoDelete !== decl.autoDelete) throw inequivalent('auto_delete', 'queue', name, flag(decl.autoDelete), flag(current.autoDelete))
  for (const arg of CHECKED_QUEUE_ARGS) compareArg(arg, name, decl.arguments[arg], current.arguments[arg])
}

/** @internal Throws the 406 RabbitMQ answers when the exchange exists with other settings. */
export function compareExchange (current: MemoryExchange, type: string, opts: { durable: boolean, autoDelete: boolean, internal: boolean }): void {
  const name = current.name
  if (current.type !== type) throw inequivalent('type', 'exchange', name, `'${type}'`, `'${current.type}'`)
  if (current.durable !== opts.durable) throw inequivalent('durable', 'exchange', name, flag(opts.durable), flag(current.durable))
  if (current.autoDelete !== opts.autoDelete) throw inequivalent('auto_delete', 'exchange', name, flag(opts.autoDelete), flag(current.autoDelete))
  if (current.internal !== opts.internal) throw inequivalent('internal', 'exchange', name, flag(opts.internal), flag(current.internal))
}

/**
 * @internal
 * Throws the 406 RabbitMQ answers for a new queue whose type forbids its
 * flags: quorum and stream queues are durable, never exclusive nor auto-delete.
 * A stream is refused outright: its offsets, its retention and its reading
 * by every consumer are not emulated, and a queue that only looked like one
 * would mislead a test.
 */
export function checkNewQueue (decl: QueueDeclaration): void {
  checkMaxPriority(decl)
  const type = decl.arguments['x-queue-type'] ?? 'classic'
  if (type !== 'classic' && type !== 'quorum' && type !== 'stream') {
    throw preconditionFailed(`invalid arg 'x-queue-type' for queue '${decl.name}' in vhost '/': ${JSON.stringify(String(type))}`)
  }
  if (type === 'stream') throw preconditionFailed(`stream queues are not emulated by the in-memory broker (queue '${decl.name}' in vhost '/'): test streams on RabbitMQ`)
  if (type === 'classic') return
  const invalid = (property: string): Error => preconditionFailed(`invalid property '${property}' for queue '${decl.name}' in vhost '/'`)
  if (decl.exclusive) throw invalid('exclusive-owner')
  if (decl.autoDelete) throw invalid('auto-delete')
  if (!decl.durable) throw invalid('non-durable')
}

/** The highest x-max-priority RabbitMQ accepts. */
const MAX_SUPPORTED_PRIORITY = 255

/**
 * x-max-priority as RabbitMQ 3.10 validates it on a new queue: an integer
 * from 0 to 255, else 406 with the Erlang term it failed on.
 */
function checkMaxPriority (decl: QueueDeclaration): void {
  const value = decl.arguments['x-max-priority']
  if (value === undefined) return
  let problem: string | undefined
  if (typeClass(value) !== 'int') problem = `"expected integer, got ${typeName(value)}"`
  else if ((value as number) < 0) problem = `{value_negative,${String(value)}}`
  else if ((value as number) > MAX_SUPPORTED_PRIORITY) problem = `{max_value_exceeded,${String(value)}}`
  if (problem !== undefined) throw preconditionFailed(`invalid arg 'x-max-priority' for queue '${decl.name}' in vhost '/': ${problem}`)
}

/** @internal What the queue acts on among its arguments. */
export function policyOf (args: Record<string, unknown>): QueuePolicy {
  const overflow = args['x-overflow']
  return {
    messageTtl: intArg(args['x-message-ttl']),
    maxLength: intArg(args['x-max-length']),
    overflow: overflow === 'reject-publish' || overflow === 'reject-publish-dlx' ? overflow : 'drop-head',
    quorum: args['x-queue-type'] === 'quorum',
    deliveryLimit: intArg(args['x-delivery-limit']),
    singleActiveConsumer: args['x-single-active-consumer'] === true,
    maxPriority: typeClass(args['x-max-priority']) === 'int' ? Math.min(args['x-max-priority'] as number, MAX_SUPPORTED_PRIORITY) : undefined
  }
}
