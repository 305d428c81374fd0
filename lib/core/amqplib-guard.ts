import { dirname, join } from 'node:path'
import { UNDECODABLE_HEADERS } from './envelope'

/*
 * amqplib decodes a header table recursively: a foreign message whose headers
 * nest a few thousand levels deep overflows the stack inside the socket's
 * data handler, amqplib closes the connection with a frame error, the broker
 * redelivers the message to the next connection, and consuming stops for good.
 * This guard wraps amqplib's table decoder so that such headers decode to one
 * header saying so: the consumer then dead-letters the message (reason
 * `undecodable`) like any body that does not decode.
 *
 * amqplib's defs.js copies the decoder out of codec.js when it loads, so the
 * wrapper must be in place before that: this module is the first the package
 * loads. If amqplib was loaded earlier (the app required it before
 * fastify-warren), the guard is inactive and the plugin logs a warning once.
 */

type Decode = (slice: Buffer) => Record<string, unknown>

const GUARDED = Symbol.for('fastify-warren.decodeFields')

function guard (): boolean {
  let lib: string
  try {
    // The copy amqp-connection-manager loads, which is the one that decodes deliveries.
    const manager = dirname(require.resolve('amqp-connection-manager'))
    lib = join(dirname(require.resolve('amqplib', { paths: [manager] })), 'lib')
  } catch {
    return false
  }
  const defsLoaded = require.cache[join(lib, 'defs.js')] !== undefined
  const codec = require(join(lib, 'codec.js')) as { decodeFields?: Decode & { [GUARDED]?: true } }
  const decode = codec.decodeFields
  if (typeof decode !== 'function') return false
  if (decode[GUARDED] === true) return true // another copy of the plugin put it there first
  if (defsLoaded) return false
  const guarded: Decode & { [GUARDED]?: true } = function decodeFields (slice: Buffer) {
    try {
      return decode(slice)
    } catch (err) {
      // Whatever it was (a stack overflow, a table that runs past its frame), the message is dead-lettered, not the connection.
      return { [UNDECODABLE_HEADERS]: `amqplib could not decode the headers (${(err as Error)?.message}): nested too deep, or malformed` }
    }
  }
  guarded[GUARDED] = true
  codec.decodeFields = guarded
  return true
}

/** @internal Whether deliveries whose headers cannot be decoded are dead-lettered instead of closing the connection. */
export const decodeGuarded = guard()
