import { readFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { dirname, join } from 'node:path'

/*
 * amqplib writes every frame group (a publish, an ack) to the socket with a
 * write of its own. Channels put their frames in buffers that one muxer per
 * connection drains once per turn of the event loop (Mux#_readIncoming,
 * scheduled by Mux#_scheduleRead with setImmediate), writing each frame group
 * with `this.out.write()`, where `out` is `connection.stream`: the socket.
 * Corking the socket while the muxer drains sends each turn's frames in one
 * writev instead: the same bytes in the same order, many times fewer system
 * calls.
 *
 * This reaches into amqplib's private internals, so it is checked before it is
 * installed: once per process, that amqplib's lib/mux.js and lib/connection.js
 * still work as described above, and once per connection, that the connection
 * is made of them. If anything differs, the connection is left alone (writes
 * are not coalesced: slower, still correct) and one warning is logged per
 * process. test/unit/coalesce-writes.test.ts fails when an amqplib upgrade
 * changes any of this.
 */

/**
 * @internal
 * The amqplib versions whose internals the patch was read against: package.json
 * pins amqplib to this range, and a unit test checks that it does. Widen both
 * only after reading the new lib/mux.js and lib/connection.js.
 */
export const COALESCE_CHECKED_RANGE = '~2.3.1'

/** @internal Where the transport reports a warning for the core to log. */
export type Warn = (fields: Record<string, unknown>, message: string) => void

interface Mux {
  out: unknown
  _readIncoming: (...args: unknown[]) => unknown
}

interface AmqplibConnection {
  muxer?: unknown
  stream?: unknown
}

/** @internal What the process-wide check found in amqplib. */
export interface AmqplibInternals {
  /** amqplib's version, as its package.json says ('unknown' if it could not be read). */
  version: string
  /** amqplib's Mux class, when its internals are as expected. */
  Mux?: new (...args: never[]) => Mux
  /** Why the patch does not fit, if it does not. */
  problem?: string
}

/** The source of `fn`, or '' if it is not a function. */
function source (fn: unknown): string {
  return typeof fn === 'function' ? Function.prototype.toString.call(fn) : ''
}

/**
 * @internal
 * Reads amqplib's lib/ folder `lib` and says whether the patch fits it: the
 * muxer's drain writes to `this.out`, is what its scheduled read calls on the
 * instance (so an own property replaces it), and channels' frames reach the
 * socket through the muxer.
 */
export function inspectAmqplib (lib: string): AmqplibInternals {
  let version = 'unknown'
  try {
    version = String((JSON.parse(readFileSync(join(lib, '..', 'package.json'), 'utf8')) as { version?: unknown }).version)
    const { Mux } = require(join(lib, 'mux.js')) as { Mux?: unknown }
    const { Connection } = require(join(lib, 'connection.js')) as { Connection?: unknown }
    const proto = (typeof Mux === 'function' ? Mux.prototype : {}) as Record<string, unknown>
    const facts: Array<[boolean, string]> = [
      [typeof Mux === 'function' && typeof proto._readIncoming === 'function', 'lib/mux.js has no Mux class with _readIncoming()'],
      [/this\.out\s*=\s*downstream/.test(source(Mux)), 'Mux no longer keeps its downstream in `out`'],
      [/\bout\.write\(/.test(source(proto._readIncoming)) && /this\.out\b/.test(source(proto._readIncoming)), 'Mux#_readIncoming no longer writes to this.out'],
      [/this\._readIncoming\(\)/.test(source(proto._scheduleRead)), 'Mux#_scheduleRead no longer calls this._readIncoming()'],
      [/this\.muxer\.pipeFrom\(/.test(source((Connection as { prototype?: Record<string, unknown> } | undefined)?.prototype?.freshChannel)), 'Connection#freshChannel no longer pipes channels through this.muxer']
    ]
    const failed = facts.find(([ok]) => !ok)
    if (failed !== undefined) return { version, problem: failed[1] }
    return { version, Mux: Mux as AmqplibInternals['Mux'] }
  } catch (err) {
    return { version, problem: `amqplib's internals could not be read (${(err as Error)?.message})` }
  }
}

/** amqplib's lib/ folder: the copy amqp-connection-manager loads, which makes the connections. */
function amqplibLib (): string {
  const manager = dirname(require.resolve('amqp-connection-manager'))
  return join(dirname(require.resolve('amqplib', { paths: [manager] })), 'lib')
}

let internals: AmqplibInternals | undefined
let warned = false
const patched = new WeakSet<object>()

function check (): AmqplibInternals {
  if (internals !== undefined) return internals
  try {
    internals = inspectAmqplib(amqplibLib())
  } catch (err) {
    internals = { version: 'unknown', problem: `amqplib could not be found beside amqp-connection-manager (${(err as Error)?.message})` }
  }
  return internals
}

/** Why this connection is not made as the patch expects, if it is not. */
function connectionProblem (c: AmqplibConnection | undefined, MuxClass: NonNullable<AmqplibInternals['Mux']>): string | undefined {
  const mux = c?.muxer
  if (!(mux instanceof MuxClass)) return 'connection.muxer is not an instance of amqplib\'s Mux'
  if (!(c?.stream instanceof Socket)) return 'connection.stream is not a socket'
  if (mux.out !== c.stream) return 'the muxer does not write to connection.stream'
  if (Object.hasOwn(mux, '_readIncoming') && !patched.has(mux)) return 'the muxer\'s _readIncoming was already replaced by someone else'
  return undefined
}

/**
 * @internal
 * Makes each turn of the muxer of `model` (an amqplib ChannelModel) go out in
 * one writev, if amqplib's internals are as expected. Returns whether it is
 * installed (true again for a model already patched). Otherwise leaves the
 * model alone, and tells `warn` why, once per process.
 */
export function coalesceWrites (model: unknown, warn?: Warn): boolean {
  const { version, Mux, problem: libProblem } = check()
  const c = (model as { connection?: AmqplibConnection } | undefined)?.connection
  const problem = libProblem ?? connectionProblem(c, Mux as NonNullable<AmqplibInternals['Mux']>)
  if (problem !== undefined) {
    if (!warned && warn !== undefined) {
      warned = true
      warn({ amqplibVersion: version, checkedRange: COALESCE_CHECKED_RANGE, problem },
        `amqplib ${version} is not as fastify-warren expects (checked against ${COALESCE_CHECKED_RANGE}): ${problem}; writes are not coalesced (slower, still correct)`)
    }
    return false
  }
  const mux = c?.muxer as Mux
  if (patched.has(mux)) return true
  const stream = c?.stream as Socket
  const drain = mux._readIncoming
  mux._readIncoming = function (this: unknown, ...args: unknown[]) {
    stream.cork()
    try {
      return drain.apply(this, args)
    } finally {
      stream.uncork()
    }
  }
  patched.add(mux)
  return true
}
