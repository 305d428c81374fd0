import { once } from 'node:events'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { Connection as CoreConnection } from '../../lib/core/connection'
import { silentLog } from '../../lib/core/log'
import { normalizeOptions } from '../../lib/core/options'
import { amqplibTransport } from '../../lib/transport/amqplib'
import { COALESCE_CHECKED_RANGE, coalesceWrites, inspectAmqplib } from '../../lib/transport/coalesce-writes'
import type { ConnectOptions } from '../../lib/transport/transport'
import { closedPort } from '../helpers'

/*
 * coalesceWrites() patches amqplib's private internals. These tests load the
 * amqplib that amqp-connection-manager loads (the one that makes the plugin's
 * connections), so an upgrade that changes what the patch relies on fails
 * here. Its own Connection and Mux classes write to a fake socket that
 * records every _write and _writev.
 */

const LIB = join(dirname(require.resolve('amqplib', { paths: [dirname(require.resolve('amqp-connection-manager'))] })), 'lib')

interface MuxInstance { out: unknown, _readIncoming: (...args: unknown[]) => unknown, _scheduleRead: () => void }
interface AmqplibConnection {
  stream: unknown
  muxer: MuxInstance
  freshChannel (channel: { onBufferDrain (): void }, options?: object): number
  sendMethod (channel: number, method: unknown, fields: object): boolean
  sendMessage (channel: number, method: unknown, fields: object, properties: unknown, props: object, content: Buffer): boolean
}

const { Mux } = require(join(LIB, 'mux.js')) as { Mux: new (downstream: unknown) => MuxInstance }
const { Connection } = require(join(LIB, 'connection.js')) as { Connection: new (socket: unknown) => AmqplibConnection }
const defs = require(join(LIB, 'defs.js')) as Record<string, unknown>
const version = (JSON.parse(readFileSync(join(LIB, '..', 'package.json'), 'utf8')) as { version: string }).version

/** A socket that connects nowhere and records what is written to it, one entry per _write or _writev. */
class RecordingSocket extends Socket {
  readonly writes: Array<{ kind: 'write' | 'writev', chunks: Buffer[] }> = []

  override _write (chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writes.push({ kind: 'write', chunks: [chunk] })
    cb()
  }

  override _writev (chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.writes.push({ kind: 'writev', chunks: chunks.map((c) => c.chunk) })
    cb()
  }

  bytes (): Buffer {
    return Buffer.concat(this.writes.flatMap((w) => w.chunks))
  }
}

/** An amqplib connection over a RecordingSocket, with `channels` channels open (as far as the muxer knows). */
function connection (channels = 2): { c: AmqplibConnection, socket: RecordingSocket, model: { connection: AmqplibConnection }, ids: number[] } {
  const socket = new RecordingSocket()
  const c = new Connection(socket)
  const ids = Array.from({ length: channels }, () => c.freshChannel({ onBufferDrain () {} }))
  return { c, socket, model: { connection: c }, ids }
}

/** What a busy RPC server writes in one turn: acks on one channel, replies on another. */
function oneTurn (c: AmqplibConnection, [consume, publish]: number[], n: number, body = 64): void {
  for (let i = 1; i <= n; i++) {
    c.sendMethod(consume, defs.BasicAck, { deliveryTag: i, multiple: false })
    c.sendMessage(publish, defs.BasicPublish, { exchange: '', routingKey: `reply.${i}`, mandatory: false, immediate: false, ticket: 0 },
      defs.BasicProperties, { correlationId: String(i), contentType: 'application/json', headers: { n: i } }, Buffer.alloc(body, i))
  }
}

/** Resolves after the muxer's scheduled drain (setImmediate) and the socket's callbacks have run. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)))

t.test('the amqplib the plugin uses is in the range the patch was checked against, and package.json pins that range', async (t) => {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  t.equal(pkg.dependencies.amqplib, COALESCE_CHECKED_RANGE, 'widen the pin only after reading the new amqplib\'s lib/mux.js and lib/connection.js')
  t.match(COALESCE_CHECKED_RANGE, /^~2\.3\.\d+$/)
  t.match(version, /^2\.3\.\d+$/, `amqplib ${version} is not the one coalesceWrites() was checked against`)
})

t.test('amqplib still has the internals the patch relies on', async (t) => {
  const found = inspectAmqplib(LIB)
  t.equal(found.problem, undefined, 'the process-wide check passes')
  t.equal(found.Mux, Mux)
  t.equal(found.version, version)
  t.type(Mux.prototype._readIncoming, 'function')
  const { c, socket, ids } = connection()
  t.equal(c.stream, socket, 'connection.stream is the socket itself')
  t.ok(c.muxer instanceof Mux, 'connection.muxer is a Mux')
  t.equal(c.muxer.out, socket, 'the muxer writes to the socket')
  // The scheduled drain calls _readIncoming on the instance, so an own property replaces it.
  let drains = 0
  const drain = c.muxer._readIncoming
  c.muxer._readIncoming = function (this: unknown, ...args: unknown[]) { drains++; return drain.apply(this, args) }
  oneTurn(c, ids, 3)
  t.equal(socket.writes.length, 0, 'nothing is written before the muxer drains')
  await nextTurn()
  t.equal(drains, 1, 'one drain per turn')
  t.equal(socket.writes.length, 6, 'unpatched, each frame group is a write of its own')
})

t.test('frames written in one turn of the muxer go out in one writev, byte for byte as amqplib writes them unpatched', async (t) => {
  const plain = connection()
  const coalesced = connection()
  t.equal(coalesceWrites(coalesced.model), true)
  t.equal(coalesceWrites(coalesced.model), true, 'a second call is a no-op that says it is installed')
  for (const n of [20, 1, 5]) {
    oneTurn(plain.c, plain.ids, n)
    oneTurn(coalesced.c, coalesced.ids, n)
    await nextTurn()
  }
  t.equal(plain.socket.writes.length, 52)
  t.same(coalesced.socket.writes.map((w) => [w.kind, w.chunks.length]), [['writev', 40], ['writev', 2], ['writev', 10]], 'one writev per turn')
  t.equal(coalesced.socket.writableCorked, 0, 'the socket is uncorked after each turn')
  t.same(coalesced.socket.bytes(), plain.socket.bytes())
})

t.test('a turn larger than the socket\'s buffer goes out whole, and in order, through the muxer\'s drain', async (t) => {
  const plain = connection()
  const coalesced = connection()
  coalesceWrites(coalesced.model)
  oneTurn(plain.c, plain.ids, 600, 200)
  oneTurn(coalesced.c, coalesced.ids, 600, 200)
  await nextTurn()
  const expected = plain.socket.bytes().length
  for (let i = 0; i < 100 && coalesced.socket.bytes().length < expected; i++) await nextTurn()
  t.ok(plain.socket.bytes().length > 16 * 1024 * 4, 'more than the socket\'s highWaterMark')
  t.ok(coalesced.socket.writes.length < plain.socket.writes.length / 10, `${coalesced.socket.writes.length} writes instead of ${plain.socket.writes.length}`)
  t.same(coalesced.socket.bytes(), plain.socket.bytes())
})

t.test('a model whose internals differ is left alone, and one warning is logged per process', async (t) => {
  const warnings: Array<[Record<string, unknown>, string]> = []
  const warn = (fields: Record<string, unknown>, message: string) => { warnings.push([fields, message]) }
  const readIncoming = () => {}
  const foreign = { connection: { muxer: { _readIncoming: readIncoming, out: null }, stream: new PassThrough() } }
  t.equal(coalesceWrites(foreign, warn), false)
  t.equal(foreign.connection.muxer._readIncoming, readIncoming, 'the muxer is untouched')
  const overPassThrough = { connection: new Connection(new PassThrough()) }
  t.equal(coalesceWrites(overPassThrough, warn), false, 'a stream that is not a socket')
  t.notOk(Object.hasOwn(overPassThrough.connection.muxer, '_readIncoming'))
  const patchedBySomeoneElse = connection()
  patchedBySomeoneElse.c.muxer._readIncoming = readIncoming
  t.equal(coalesceWrites(patchedBySomeoneElse.model, warn), false, 'a muxer someone else patched')
  t.equal(coalesceWrites({}, warn), false, 'no connection at all')
  t.equal(coalesceWrites(undefined, warn), false)
  t.equal(warnings.length, 1)
  t.match(warnings[0][0], { amqplibVersion: version, checkedRange: COALESCE_CHECKED_RANGE, problem: /muxer is not an instance of amqplib's Mux/ })
  t.match(warnings[0][1], new RegExp(`amqplib ${version.replace(/\./g, '\\.')} .*writes are not coalesced \\(slower, still correct\\)`))
})

t.test('the process-wide check fails for an amqplib whose muxer is scheduled or written differently', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warren-amqplib-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const changes: Array<[string, string, string, RegExp]> = [
    ['the scheduled read calls another method', 'this._readIncoming();\n      });', 'this._readAll();\n      });', /_scheduleRead no longer calls/],
    ['the drain writes through another field', 'const out = this.out;', 'const out = this.downstream;', /_readIncoming no longer writes to this.out/],
    ['the drain is renamed', '_readIncoming() {', '_readAll() {', /no Mux class with _readIncoming/]
  ]
  const original = readFileSync(join(LIB, 'mux.js'), 'utf8')
  for (const [i, [what, from, to, problem]] of changes.entries()) {
    t.ok(original.includes(from), `amqplib's mux.js has ${JSON.stringify(from)}`)
    const copy = join(dir, String(i))
    cpSync(join(LIB, '..'), copy, { recursive: true })
    writeFileSync(join(copy, 'lib', 'mux.js'), original.replace(from, to))
    const found = inspectAmqplib(join(copy, 'lib'))
    t.match(found, { version, problem }, what)
    t.equal(found.Mux, undefined)
  }
  t.match(inspectAmqplib(join(dir, 'nowhere')), { version: 'unknown', problem: /could not be read/ })
})

t.test('coalesceWrites: false reaches the transport, which then leaves connections alone', async (t) => {
  let given: ConnectOptions | undefined
  const transport = { connect (o: ConnectOptions): never { given = o; throw new Error('no broker here') } }
  for (const coalesce of [undefined, false]) {
    const opts = normalizeOptions({ url: 'amqp://127.0.0.1', ...(coalesce === undefined ? {} : { coalesceWrites: coalesce }) })
    await t.rejects(new CoreConnection(opts, silentLog, transport).open(), /no broker here/)
    t.equal(given?.coalesceWrites, coalesce ?? true)
    t.type(given?.warn, 'function')
  }

  const url = `amqp://127.0.0.1:${await closedPort()}`
  for (const coalesce of [true, false]) {
    const manager = amqplibTransport([url]).connect({ heartbeat: 0, reconnectDelay: 600000, connectTimeout: 1000, connectionName: 'test', coalesceWrites: coalesce })
    t.teardown(() => manager.close())
    // Once the attempt has failed, close() cancels the wait for the next one.
    await once(manager, 'connectFailed')
    const { c, model } = connection()
    manager.emit('connect', { connection: model, url })
    t.equal(Object.hasOwn(c.muxer, '_readIncoming'), coalesce, `coalesceWrites: ${coalesce}`)
  }
})
