import { randomBytes } from 'node:crypto'
import { dirname, extname, join, resolve } from 'node:path'
import amqplib, { type ChannelModel, type ConfirmChannel } from 'amqplib'
import Fastify, { type FastifyInstance } from 'fastify'
import type { WarrenClient, WarrenClientOptions, WarrenOptions } from '../lib/index'
import { MESSAGE } from './message'
import { rotation } from './stats'

/**
 * The plugin under test: the TypeScript source by default; BENCH_PLUGIN points
 * at another build of it (`BENCH_PLUGIN=dist/index.js` for the compiled
 * package, or a patched copy to try a fix) with the same API.
 */
export const PLUGIN_PATH = process.env.BENCH_PLUGIN ? resolve(process.env.BENCH_PLUGIN) : resolve(__dirname, '..', 'lib', 'index.ts')

const warren: typeof import('../lib/index') = require(PLUGIN_PATH)

/**
 * The Express entry of the same build, beside its index: lib/express.ts for
 * the source, dist/express.js when BENCH_PLUGIN is dist/index.js.
 */
export const EXPRESS_PATH = join(dirname(PLUGIN_PATH), `express${extname(PLUGIN_PATH)}`)

/** Loads the Express entry of the build under test (see EXPRESS_PATH): warrenMiddleware, warrenErrorHandler... */
export function expressEntry (): typeof import('../lib/express') {
  return require(EXPRESS_PATH)
}

export { MESSAGE } from './message'

/** A name no other run uses, under the bench's prefix: `wb.<what>.<random>`. */
export function uniqueName (what: string): string {
  return `wb.${what}.${randomBytes(4).toString('hex')}`
}

/** One figure of the table: a metric measured for each implementation in each round. */
export interface Row {
  /** Stable key for JSON tracking: 'publish', 'rpc-p50'... */
  id: string
  title: string
  unit: string
  better: 'higher' | 'lower'
  /** Implementation → the value of each round. */
  samples: Record<string, number[]>
  /** The implementation the plugin is divided by. */
  baseline: string
  /** What the plugin should reach: a ratio to the baseline, or a ceiling on its own median. */
  goal?: { ratioAtLeast?: number, ratioAtMost?: number, atMost?: number }
  /** Whether the target is met, for a target the scenario judges itself (memory). */
  met?: boolean
  /** The target in words, for a target the scenario judges itself. */
  target?: string
  /** Anything a reader needs to interpret the row. */
  note?: string
  /** The ratio means nothing here (differences around zero). */
  noRatio?: boolean
  /** Raw series kept in the JSON (the memory samples). */
  series?: unknown
}

/**
 * Runs every implementation once per round, rotating which goes first (see
 * rotation()) so that drift on a shared machine (another process waking, the
 * broker's GC) does not always land on the same implementation.
 */
export async function alternate<T> (rounds: number, impls: Record<string, (round: number) => Promise<T>>, log: (msg: string) => void): Promise<Record<string, T[]>> {
  const names = Object.keys(impls)
  const out: Record<string, T[]> = Object.fromEntries(names.map((n) => [n, []]))
  for (let round = 0; round < rounds; round++) {
    for (const name of rotation(names, round)) {
      settle()
      out[name].push(await impls[name](round))
      log(`  round ${round + 1}/${rounds} ${name}: ${JSON.stringify(out[name][round], (_, v) => typeof v === 'number' ? Math.round(v * 1000) / 1000 : v)}`)
    }
  }
  return out
}

/** What one timed run took: wall-clock milliseconds and this process's CPU time (all threads), in microseconds. */
export interface Timing {
  ms: number
  cpuUs: number
}

/** Times `run`, wall clock and CPU. */
export async function timed (run: () => Promise<unknown>): Promise<Timing> {
  const cpu = process.cpuUsage()
  const start = performance.now()
  await run()
  const ms = performance.now() - start
  const used = process.cpuUsage(cpu)
  return { ms, cpuUs: used.user + used.system }
}

/** One metric out of per-round results: `{ plugin: [{ rate, cpu }...] }` → `{ plugin: [rate...] }`. */
export function pick<T, K extends keyof T> (results: Record<string, T[]>, key: K): Record<string, number[]> {
  return Object.fromEntries(Object.entries(results).map(([impl, rounds]) => [impl, rounds.map((r) => r[key] as number)]))
}

/** A full collection when the bench runs with --expose-gc, so one run's garbage is not collected during the next. */
export function settle (): void {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc) gc()
}

/**
 * Runs `total` calls of `op` with at most `inFlight` pending at once, as a
 * service with many concurrent requests would; rejects on the first failure.
 */
export function windowed (total: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    let started = 0
    let done = 0
    let failed = false
    const next = (): void => {
      if (failed) return
      if (done === total) return resolve()
      if (started < total) {
        const i = started++
        op(i).then(() => { done++; next() }, (err: Error) => { failed = true; reject(err) })
      }
    }
    if (total === 0) return resolve()
    for (let i = 0; i < Math.min(inFlight, total); i++) next()
  })
}

/** Connects with amqplib, with the socket option the plugin also sets (no Nagle delay). */
export function rawConnect (url: string): Promise<ChannelModel> {
  return amqplib.connect(url, { noDelay: true })
}

/**
 * The hand-written equivalent of the plugin's publish(), with the same
 * guarantees: the body as JSON, persistent, mandatory, and the broker's
 * confirm awaited.
 */
export function rawPublish (ch: ConfirmChannel, exchange: string, key: string, body: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    ch.publish(exchange, key, Buffer.from(JSON.stringify(body)), { persistent: true, mandatory: true, contentType: 'application/json' }, (err) => {
      if (err) reject(err)
      else resolve()
    })
  })
}

/** A Fastify app with the plugin registered (quiet logger), ready unless told otherwise. */
export async function pluginApp (url: string, options: Partial<WarrenOptions> = {}, { ready = true } = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(warren, { url, connectionName: 'warren-bench', ...options })
  if (ready) await app.ready()
  return app
}

/**
 * The client of the build under test made by createWarren() (not started),
 * with the options pluginApp() gives the plugin: for the Express app.
 */
export function pluginClient (url: string, options: Partial<WarrenClientOptions> = {}): WarrenClient {
  return warren.createWarren({ url, connectionName: 'warren-bench', ...options })
}

/**
 * A side connection that declares what the scenarios need and deletes all
 * of it (queues and exchanges under `wb.`) at the end, failure or not.
 */
export class Admin {
  private readonly queues = new Set<string>()
  private readonly exchanges = new Set<string>()

  private constructor (readonly conn: ChannelModel, readonly ch: amqplib.Channel) {}

  static async open (url: string): Promise<Admin> {
    const conn = await rawConnect(url)
    const ch = await conn.createChannel()
    return new Admin(conn, ch)
  }

  /** The broker's product and version, as it announced them. */
  get server (): string {
    const props = (this.conn as unknown as { connection: { serverProperties?: Record<string, unknown> } }).connection.serverProperties ?? {}
    return `${String(props.product ?? 'broker')} ${String(props.version ?? '?')}`
  }

  /** A durable topic exchange, as the plugin declares its own. */
  async exchange (what: string): Promise<string> {
    const name = uniqueName(what)
    this.exchanges.add(name)
    await this.ch.assertExchange(name, 'topic', { durable: true })
    return name
  }

  /**
   * A queue (transient unless `durable`, which matches how the plugin declares
   * a named queue), bound to `exchange` with its own name as routing key;
   * `args` are its x-arguments (x-max-length-bytes...).
   */
  async queue (what: string, { durable = false, exchange, args }: { durable?: boolean, exchange?: string, args?: Record<string, unknown> } = {}): Promise<string> {
    const name = uniqueName(what)
    this.queues.add(name)
    await this.ch.assertQueue(name, { durable, arguments: args })
    if (exchange) await this.ch.bindQueue(name, exchange, name)
    return name
  }

  /** Registers a name to delete at the end (a queue someone else declares). */
  forgetLater (queue: string): string {
    this.queues.add(queue)
    return queue
  }

  async messageCount (queue: string): Promise<number> {
    return (await this.ch.checkQueue(queue)).messageCount
  }

  async purge (queue: string): Promise<void> {
    await this.ch.purgeQueue(queue)
  }

  /** Deletes a queue with the wait queues and dead-letter queue a plugin consumer declares beside it. */
  async deleteQueue (queue: string): Promise<void> {
    for (const name of [queue, `${queue}.dlq`, `${queue}.retry.1`, `${queue}.retry.2`]) await this.ch.deleteQueue(name)
    this.queues.delete(queue)
  }

  /**
   * Puts `count` copies of the message in a queue, confirmed, not persistent
   * (nothing touches the disk), with the content type the plugin would set.
   */
  async fill (queue: string, count: number): Promise<void> {
    const ch = await this.conn.createConfirmChannel()
    const content = Buffer.from(JSON.stringify(MESSAGE))
    for (let i = 0; i < count; i++) {
      if (!ch.sendToQueue(queue, content, { contentType: 'application/json', persistent: false })) {
        await new Promise((resolve) => ch.once('drain', resolve))
      }
      if (i % 5000 === 4999) await ch.waitForConfirms()
    }
    await ch.waitForConfirms()
    await ch.close()
  }

  /** Deletes everything it declared, then closes. */
  async close (): Promise<void> {
    for (const q of [...this.queues]) await this.deleteQueue(q).catch(() => {})
    for (const x of this.exchanges) await this.ch.deleteExchange(x).catch(() => {})
    await this.conn.close().catch(() => {})
  }
}
