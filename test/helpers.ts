import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { dirname, join } from 'node:path'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import amqplib from 'amqplib'
import warren, { type ConsumeOptions, type WarrenMessage } from '../lib/index'

/** The broker the tests use. */
export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'

/** Whether the broker tests run on the in-memory broker (AMQP_URL=memory://<name>) rather than RabbitMQ. */
export const ON_MEMORY = AMQP_URL.startsWith('memory:')

/** Plugin options under every test's own: WARREN_COALESCE_WRITES=0 (npm run test:no-coalesce) turns write coalescing off. */
export const TEST_OPTIONS: Readonly<Record<string, unknown>> = process.env.WARREN_COALESCE_WRITES === '0' ? { coalesceWrites: false } : {}

/**
 * A raw connection to the broker under test, for arranging and inspecting it:
 * amqplib to RabbitMQ, or the same promise API on the memory broker the
 * plugin under test uses (memory://<name>, shared by name in the process).
 */
export async function connectBroker (): Promise<amqplib.ChannelModel> {
  if (!ON_MEMORY) return amqplib.connect(AMQP_URL)
  const { brokerNamed, connectMemory } = await import('../lib/transport/memory/index')
  return await connectMemory(brokerNamed(new URL(AMQP_URL).hostname)) as unknown as amqplib.ChannelModel
}

export interface TestLike {
  name: string
  teardown (fn: () => unknown): void
}

/** A name no other test (or test file running in parallel) uses: `wt.<test>.<random>`. */
export function uniqueName (t: TestLike, suffix = ''): string {
  const slug = t.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 40)
  return `wt.${slug}.${randomBytes(4).toString('hex')}${suffix ? '.' + suffix : ''}`
}

/**
 * Builds a Fastify app with the plugin registered (options merged over the
 * test broker URL), closed after the test. Without an `exchange` option it
 * gets a unique one, deleted after the test.
 * Pass `ready: false` to register consumers before ready.
 */
export async function build (t: TestLike, opts: Record<string, unknown> = {}, { ready = true } = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'silent' } })
  let own: string | undefined
  if (!('exchange' in opts)) {
    own = uniqueName(t, 'x')
    opts = { ...opts, exchange: own }
  }
  t.teardown(async () => {
    await app.close()
    if (own) await deleteExchange(own)
  })
  await app.register(warren, { url: AMQP_URL, ...TEST_OPTIONS, ...opts } as any)
  if (ready) await app.ready()
  return app
}

/** Deletes an exchange on a connection of its own. */
export async function deleteExchange (name: string): Promise<void> {
  const conn = await connectBroker()
  try {
    const ch = await conn.createChannel()
    await ch.deleteExchange(name)
  } finally {
    await conn.close().catch(() => {})
  }
}

/** A consumer's queue with the wait queues (`<queue>.retry.<n>`) and dead-letter queue (`<queue>.dlq`) it may have declared. */
export function withRetryQueues (queue: string): string[] {
  return [queue, `${queue}.dlq`, ...Array.from({ length: 10 }, (_, i) => `${queue}.retry.${i + 1}`)]
}

/** What admin() gives a test: a raw channel, and ways to look into queues that may not exist yet. */
export interface Admin {
  ch: amqplib.Channel
  /** Queues (with their wait and dead-letter queues) deleted after the test. */
  queues: string[]
  /** Exchanges deleted after the test. */
  exchanges: string[]
  /** Whether a queue exists. */
  exists: (queue: string) => Promise<boolean>
  /** How many messages a queue holds (0 if it does not exist). */
  depth: (queue: string) => Promise<number>
  /** Takes the first message off a queue: false if there is none, or no queue. */
  take: (queue: string) => Promise<amqplib.GetMessage | false>
  /** Takes every message off a queue (none if there is no queue). */
  drain: (queue: string) => Promise<amqplib.GetMessage[]>
}

/**
 * A raw amqplib channel for arranging and inspecting broker state, closed
 * (with what it declared) after the test. A consumer declares its wait and
 * dead-letter queues on first need, so the helpers that look into a queue
 * ask on a throwaway channel (a 404 closes the channel it is asked on).
 */
export async function admin (t: TestLike): Promise<Admin> {
  const conn = await connectBroker()
  const ch = await conn.createChannel()
  /** Runs `fn` on a channel of its own; `missing` if the queue does not exist. */
  const probe = async <T>(fn: (c: amqplib.Channel) => Promise<T>, missing: T): Promise<T> => {
    const c = await conn.createChannel()
    c.on('error', () => {})
    try {
      const value = await fn(c)
      await c.close()
      return value
    } catch (err) {
      if ((err as { code?: number }).code === 404) return missing
      throw err
    }
  }
  const exists = (queue: string) => probe(async (c) => { await c.checkQueue(queue); return true }, false)
  const depth = (queue: string) => probe(async (c) => (await c.checkQueue(queue)).messageCount, 0)
  const take = (queue: string) => probe((c) => c.get(queue, { noAck: true }), false as const)
  const drain = (queue: string) => probe(async (c) => {
    const all: amqplib.GetMessage[] = []
    for (let m = await c.get(queue, { noAck: true }); m !== false; m = await c.get(queue, { noAck: true })) all.push(m)
    return all
  }, [])
  const state: Admin = { ch, queues: [], exchanges: [], exists, depth, take, drain }
  t.teardown(async () => {
    for (const q of state.queues) {
      for (const name of withRetryQueues(q)) await ch.deleteQueue(name).catch(() => {})
    }
    for (const x of state.exchanges) await ch.deleteExchange(x).catch(() => {})
    await conn.close().catch(() => {})
  })
  return state
}

/** Resolves with the first `n` values pushed, or rejects after `ms` with what arrived so far. */
export function collector<T = unknown> (n: number, ms = 10000): { push: (v: T) => void, values: T[], done: Promise<T[]> } {
  const values: T[] = []
  let resolve!: (v: T[]) => void
  let reject!: (e: Error) => void
  const done = new Promise<T[]>((_resolve, _reject) => { resolve = _resolve; reject = _reject })
  const timer = setTimeout(() => reject(new Error(`expected ${n} values within ${ms} ms, got ${values.length}: ${JSON.stringify(values).slice(0, 300)}`)), ms)
  return {
    values,
    done,
    push (v: T) {
      values.push(v)
      if (values.length === n) {
        clearTimeout(timer)
        resolve(values)
      }
    }
  }
}

/** A promise you resolve from outside. */
export function deferred<T = void> (): { promise: Promise<T>, resolve: (v: T) => void, reject: (e: Error) => void } {
  let resolve!: (v: T) => void
  let reject!: (e: Error) => void
  const promise = new Promise<T>((_resolve, _reject) => { resolve = _resolve; reject = _reject })
  return { promise, resolve, reject }
}

/** `app.ready()` as a real Promise (Fastify returns a thenable instance), for t.rejects and .catch. */
export async function ready (app: FastifyInstance): Promise<void> {
  await app.ready()
}

/**
 * A TCP proxy in front of the broker, for injecting faults: `cut()` destroys
 * every live connection; `refuse()` makes new connections fail until `accept()`.
 */
export async function proxy (t: TestLike): Promise<{ url: string, cut: () => void, refuse: () => void, accept: () => void }> {
  const target = new URL(AMQP_URL)
  const sockets = new Set<net.Socket>()
  let refusing = false
  const server = net.createServer((client) => {
    if (refusing) return client.destroy()
    const upstream = net.connect(Number(target.port || 5672), target.hostname)
    sockets.add(client).add(upstream)
    const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream) }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    return new Promise((resolve) => server.close(resolve))
  })
  const url = new URL(AMQP_URL)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  return {
    url: url.toString(),
    cut () { for (const s of sockets) s.destroy() },
    refuse () { refusing = true },
    accept () { refusing = false }
  }
}

/**
 * An app (own exchange) with one consumer on a unique routing key, ready, and
 * a collector of the first `n` messages it receives. The queue is deleted after the test.
 */
export async function consumerApp (t: TestLike, n: number, options: ConsumeOptions = {}, plugin: Record<string, unknown> = {}): Promise<{ app: FastifyInstance, key: string, got: ReturnType<typeof collector<WarrenMessage>> }> {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const app = await build(t, plugin, { ready: false })
  const got = collector<WarrenMessage>(n)
  app.amqp.consume(key, async (msg) => { got.push(msg) }, options)
  await app.ready()
  return { app, key, got }
}

const SBIN_PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`

/** Runs `rabbitmqctl -q <args>` (found in /usr/sbin too) and resolves with its output. */
export async function rabbitmqctl (...args: string[]): Promise<string> {
  const { execFile } = await import('node:child_process')
  return new Promise((resolve, reject) => {
    execFile('rabbitmqctl', ['-q', ...args], { env: { ...process.env, PATH: SBIN_PATH } }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr }))
      else resolve(stdout)
    })
  })
}

/** Polls `check` until it returns a truthy value, or rejects after `ms` naming `what`. */
export async function waitFor<T> (what: string, check: () => T | Promise<T>, ms = 20000): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value) return value as Exclude<T, false | null | undefined | 0 | ''>
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** How many times each value occurs. */
export function tally (values: Iterable<string>): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1
  return counts
}

/** Settles with 'resolved', the FST_AMQP_* code it rejected with, 'uncoded: …', or 'hung' if it has not settled after `ms`. */
export function outcome (p: Promise<unknown>, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('hung'), ms)
    p.then(
      () => { clearTimeout(timer); resolve('resolved') },
      (err: any) => { clearTimeout(timer); resolve(typeof err?.code === 'string' && err.code.startsWith('FST_AMQP_') ? err.code : `uncoded: ${err?.message ?? String(err)}`) }
    )
  })
}

/** A Fastify app (plugin not registered) whose log lines, at debug and above, are kept in `lines`. */
export function appWithLog (): { app: FastifyInstance, lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(chunk.toString()); cb() } })
  const app = Fastify({ logger: { level: 'debug', stream } })
  return { app, lines }
}

/** A port on this machine where nothing listens. */
export async function closedPort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * Like build(), but the app logs at debug into `lines` (see appWithLog), so a
 * test can assert what the plugin said.
 */
export async function buildLogged (t: TestLike, opts: Record<string, unknown> = {}, { ready = true } = {}): Promise<{ app: FastifyInstance, lines: string[] }> {
  const { app, lines } = appWithLog()
  let own: string | undefined
  if (!('exchange' in opts)) {
    own = uniqueName(t, 'x')
    opts = { ...opts, exchange: own }
  }
  t.teardown(async () => {
    await app.close()
    if (own) await deleteExchange(own)
  })
  await app.register(warren, { url: AMQP_URL, ...TEST_OPTIONS, ...opts } as any)
  if (ready) await app.ready()
  return { app, lines }
}

/**
 * The bytes amqplib encodes `headers` to as an AMQP table (its length prefix
 * included), or the error it throws: amqplib's own encoder, reached by path
 * since the package does not export it.
 */
export function amqplibTableSize (headers: Record<string, unknown>): number {
  const codec = require(join(dirname(require.resolve('amqplib')), 'lib', 'codec.js')) as { encodeTable: (b: Buffer, v: unknown, o: number) => number }
  return codec.encodeTable(Buffer.alloc(1 << 20), headers, 0)
}

/** Properties for rawPublish(), given as the bytes that go on the wire. */
export interface RawProperties {
  contentType?: string
  /** A header table's bytes (without its 4-byte length). */
  headers?: Buffer
  messageId?: Buffer
  correlationId?: Buffer
  replyTo?: Buffer
  type?: Buffer
  appId?: Buffer
  timestamp?: bigint
}

/**
 * Publishes a message built byte by byte, as a foreign client could send it
 * (invalid UTF-8 in a property, a timestamp past 2^53, a header table amqplib
 * cannot encode), on a connection of its own, to the default exchange.
 */
export async function rawPublish (t: TestLike, queue: string, props: RawProperties, body: Buffer): Promise<void> {
  const model = await amqplib.connect(AMQP_URL)
  t.teardown(() => model.close().catch(() => {}))
  const ch = await model.createConfirmChannel()
  const lib = join(dirname(require.resolve('amqplib')), 'lib')
  const defs = require(join(lib, 'defs.js')) as { encodeMethod: (id: number, channel: number, fields: object) => Buffer, BasicPublish: number }
  const channel = (ch as unknown as { ch: number }).ch
  const conn = (model as unknown as { connection: { sendBytes: (b: Buffer) => void } }).connection
  const short = (b: Buffer) => Buffer.concat([Buffer.from([b.length]), b])
  const parts: Buffer[] = []
  let flags = 0
  if (props.contentType !== undefined) { flags |= 0x8000; parts.push(short(Buffer.from(props.contentType))) }
  if (props.headers !== undefined) {
    flags |= 0x2000
    const len = Buffer.alloc(4)
    len.writeUInt32BE(props.headers.length)
    parts.push(len, props.headers)
  }
  if (props.correlationId !== undefined) { flags |= 0x0400; parts.push(short(props.correlationId)) }
  if (props.replyTo !== undefined) { flags |= 0x0200; parts.push(short(props.replyTo)) }
  if (props.messageId !== undefined) { flags |= 0x0080; parts.push(short(props.messageId)) }
  if (props.timestamp !== undefined) {
    flags |= 0x0040
    const ts = Buffer.alloc(8)
    ts.writeBigUInt64BE(props.timestamp)
    parts.push(ts)
  }
  if (props.type !== undefined) { flags |= 0x0020; parts.push(short(props.type)) }
  if (props.appId !== undefined) { flags |= 0x0008; parts.push(short(props.appId)) }
  const head = Buffer.alloc(14)
  head.writeUInt16BE(60, 0) // class basic
  head.writeUInt16BE(0, 2) // weight
  head.writeBigUInt64BE(BigInt(body.length), 4)
  head.writeUInt16BE(flags, 12)
  const frame = (type: number, payload: Buffer) => {
    const f = Buffer.alloc(7 + payload.length + 1)
    f.writeUInt8(type, 0)
    f.writeUInt16BE(channel, 1)
    f.writeUInt32BE(payload.length, 3)
    payload.copy(f, 7)
    f.writeUInt8(0xce, 7 + payload.length)
    return f
  }
  conn.sendBytes(Buffer.concat([
    defs.encodeMethod(defs.BasicPublish, channel, { exchange: '', routingKey: queue, mandatory: false, immediate: false, ticket: 0 }),
    frame(2, Buffer.concat([head, ...parts])),
    frame(3, body)
  ]))
  // A channel method after it: answered only once the broker has taken the publish.
  await ch.checkQueue(queue)
}

/** A header table (without its length) holding one array nested `depth` deep: more than amqplib's recursive decoder survives. */
export function deeplyNestedTable (depth: number): Buffer {
  const key = Buffer.from([4, ...Buffer.from('deep')])
  const arrays = Buffer.alloc(5 * depth)
  for (let i = 0; i < depth; i++) {
    arrays.write('A', 5 * i)
    arrays.writeUInt32BE(5 * (depth - 1 - i), 5 * i + 1)
  }
  return Buffer.concat([key, arrays])
}

/** A header table (without its length) of `n` boolean headers: encodable by no stock amqplib past about 6,500 of them. */
export function manyHeadersTable (n: number): Buffer {
  const parts: Buffer[] = []
  for (let i = 0; i < n; i++) {
    const key = Buffer.from(`k${i}`)
    parts.push(Buffer.from([key.length]), key, Buffer.from(['t'.charCodeAt(0), 1]))
  }
  return Buffer.concat(parts)
}
