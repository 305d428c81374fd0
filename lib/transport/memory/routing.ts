import { topicMatches } from '../../core/topic'

/*
 * How each exchange type picks its bindings. Direct compares the routing key,
 * fanout takes all, topic matches words (lib/core/topic.ts), headers compares
 * the message's headers with the binding's arguments under its x-match.
 */

/** @internal The exchange types the memory broker knows. */
export type ExchangeType = 'direct' | 'fanout' | 'topic' | 'headers'

/** @internal Whether `type` is one of them. */
export function isExchangeType (type: string): type is ExchangeType {
  return type === 'direct' || type === 'fanout' || type === 'topic' || type === 'headers'
}

/** Loose equality of two decoded field values: numbers by value, Buffers by bytes, tables and arrays deeply. */
function sameValue (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b)
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => sameValue(v, b[i]))
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a)
    const kb = Object.keys(b)
    return ka.length === kb.length && ka.every(k => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  }
  return false
}

/**
 * @internal
 * The headers exchange's test. x-match all (the default) needs every binding
 * argument matched, any needs one; a binding argument without a value
 * (void) asks only for the header's presence. all and any skip arguments
 * whose names start with 'x-'; all-with-x and any-with-x compare them too.
 */
export function headersMatch (bindingArgs: Record<string, unknown>, headers: Record<string, unknown>): boolean {
  const mode = String(bindingArgs['x-match'] ?? 'all')
  const withX = mode.endsWith('-with-x')
  const any = mode.startsWith('any')
  for (const [key, expected] of Object.entries(bindingArgs)) {
    if (key === 'x-match') continue
    if (!withX && key.startsWith('x-')) continue
    const present = Object.prototype.hasOwnProperty.call(headers, key)
    const ok = present && (expected === null || expected === undefined || sameValue(expected, headers[key]))
    if (any && ok) return true
    if (!any && !ok) return false
  }
  return !any
}

/**
 * @internal
 * Whether a binding of `type` with `pattern` and `args` routes a message with
 * one of `keys` and `headers`.
 */
export function bindingMatches (type: ExchangeType, pattern: string, args: Record<string, unknown>, keys: string[], headers: Record<string, unknown>): boolean {
  switch (type) {
    case 'fanout': return true
    case 'direct': return keys.includes(pattern)
    case 'topic': return keys.some(k => topicMatches(pattern, k))
    case 'headers': return headersMatch(args, headers)
  }
}
