import {
  FST_AMQP_ACCESS_REFUSED,
  FST_AMQP_TOPOLOGY_MISMATCH,
  FST_AMQP_VHOST_NOT_ALLOWED
} from './errors'

/*
 * Every reading of the broker's error texts, in one place. RabbitMQ says why
 * it closed a channel or refused a connection only in words; each parser
 * here is unit-tested with the strings RabbitMQ really sends (as amqplib
 * wraps them), so a broker upgrade that rewords one fails a test, not a user.
 */

/** The message of an error, whatever was thrown; never throws itself. */
function textOf (err: unknown): string {
  try {
    return String((err as { message?: unknown } | undefined)?.message ?? '')
  } catch {
    return ''
  }
}

function codeOf (err: unknown): unknown {
  try {
    return (err as { code?: unknown } | undefined)?.code
  } catch {
    return undefined
  }
}

/**
 * @internal
 * The exchange a channel was closed for (`404 NOT_FOUND - no exchange 'x' in
 * vhost '/'`), if that is why.
 */
export function missingExchange (err: unknown): string | undefined {
  if (codeOf(err) !== 404) return undefined
  return /no exchange '(.*)' in vhost/.exec(textOf(err))?.[1]
}

/**
 * @internal
 * The body size and the broker's limit when the broker closed a channel for a
 * message over its `max_message_size` (`406 PRECONDITION_FAILED - message size
 * 2000 is larger than configured max size 1000`).
 */
export function messageTooLarge (err: unknown): { size: number, max: number } | undefined {
  if (codeOf(err) !== 406) return undefined
  const m = /message size (\d+) is larger than (?:configured )?max size (\d+)/.exec(textOf(err))
  return m ? { size: Number(m[1]), max: Number(m[2]) } : undefined
}

/** "'true'" → "true", "the value '1000' of type 'short'" → "1000 (short)", "none" → "(not set)". */
function brokerValue (text: string): string {
  const typed = /^the value '(.*)' of type '([^']*)'$/.exec(text)
  if (typed) return `${typed[1]} (${typed[2]})`
  if (text === 'none') return '(not set)'
  return text.replace(/^'(.*)'$/, '$1')
}

/**
 * @internal
 * The 406 PRECONDITION_FAILED RabbitMQ answers when a queue or exchange exists
 * with other settings, as FST_AMQP_TOPOLOGY_MISMATCH naming the argument, what
 * this service declares and what the broker has; undefined for any other error.
 */
export function mismatchError (err: unknown): Error | undefined {
  const m = /inequivalent arg '([^']+)' for (queue|exchange) '(.*)' in vhost '.*?': received (.+) but current is (.+?)"?$/.exec(textOf(err))
  if (!m) return undefined
  const [, argument, kind, name, received, current] = m
  const expected = brokerValue(received)
  const actual = brokerValue(current)
  return Object.assign(new FST_AMQP_TOPOLOGY_MISMATCH(`${kind === 'queue' ? 'Queue' : 'Exchange'} "${name}"`, argument, actual, argument, expected, { cause: err }), {
    [kind]: name, argument, expected, actual
  })
}

/**
 * @internal
 * A connection error that another attempt will not fix (bad credentials, a
 * virtual host that does not exist or is not allowed), as the coded error
 * that fails the boot at once; undefined for errors worth retrying.
 */
export function fatalConnectError (err: unknown, url: string): Error | undefined {
  const text = textOf(err)
  if (/ACCESS[-_]REFUSED/.test(text)) return new FST_AMQP_ACCESS_REFUSED(url, text, { cause: err })
  // The broker answers connection.open, which carries only the virtual host, with
  // connection.close (530 NOT_ALLOWED); amqplib reports it without the reply text.
  if (/NOT[-_]ALLOWED|Expected ConnectionOpenOk; got <ConnectionClose/.test(text)) {
    return new FST_AMQP_VHOST_NOT_ALLOWED(url, 'it does not exist or the user may not open it', { cause: err })
  }
  return undefined
}
