import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Parser } from '@asyncapi/parser'
import amqplib, { type GetMessage } from 'amqplib'
import { freePort } from '../free-port'
import { AMQP_URL, uniqueName } from '../helpers'

/*
 * Helpers for the example tests: each example runs as real processes, the way
 * a user runs it, in a RabbitMQ virtual host of its own, so the examples keep
 * the plain names a user would choose ('task_queue', 'logs') and a test run
 * leaves nothing behind (deleting the vhost deletes everything in it).
 */

const ROOT = join(__dirname, '..', '..')
const run = promisify(execFile)

interface TestLike {
  name: string
  teardown (fn: () => unknown): void
}

/**
 * rabbitmqctl, to create and delete virtual hosts. RABBITMQCTL overrides it,
 * e.g. `RABBITMQCTL="docker compose exec -T rabbitmq rabbitmqctl"`.
 */
async function rabbitmqctl (...args: string[]): Promise<void> {
  const [cmd, ...pre] = (process.env.RABBITMQCTL ?? 'rabbitmqctl').split(' ')
  await run(cmd, [...pre, ...args], { env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } })
}

/** Creates a virtual host for this test (deleted, with all it holds, after it) and returns its broker URL. */
export async function vhost (t: TestLike): Promise<string> {
  const name = uniqueName(t)
  const user = decodeURIComponent(new URL(AMQP_URL).username || 'guest')
  await rabbitmqctl('add_vhost', name)
  t.teardown(() => rabbitmqctl('delete_vhost', name))
  await rabbitmqctl('set_permissions', '-p', name, user, '.*', '.*', '.*')
  const url = new URL(AMQP_URL)
  url.pathname = '/' + encodeURIComponent(name)
  return url.toString()
}

/** A running example service. */
export interface Service {
  name: string
  /** `http://127.0.0.1:<port>` */
  base: string
  child: ChildProcess
  /** Everything it printed so far. */
  output: string[]
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** Sends SIGTERM and resolves with how it exited. */
  stop (): Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** SIGKILL: the process dies without draining, as in a crash. */
  kill (): Promise<void>
}

/**
 * Starts `examples/<example>/<file>` with `node --import tsx` on a free port,
 * with `AMQP_URL` and `env`, and resolves once it answers GET /health.
 * Stopped (if still running) after the test.
 */
export async function service (t: TestLike, example: string, file: string, env: Record<string, string>, name = file.replace(/\.ts$/, '')): Promise<Service> {
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'examples', example, file)], {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const output: string[] = []
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()))
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()))
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }))
  const running = (): boolean => child.exitCode === null && child.signalCode === null
  const s: Service = {
    name,
    base: `http://127.0.0.1:${port}`,
    child,
    output,
    exited,
    async stop () {
      if (running()) child.kill('SIGTERM')
      return exited
    },
    async kill () {
      if (running()) child.kill('SIGKILL')
      await exited
    }
  }
  t.teardown(async () => {
    if (!running()) return
    const killer = setTimeout(() => child.kill('SIGKILL'), 10000)
    child.kill('SIGTERM')
    await exited
    clearTimeout(killer)
  })
  await waitFor(`${name} to answer GET /health`, async () => {
    if (!running()) throw new Error(`${name} exited before answering:\n${output.join('')}`)
    try {
      return (await fetch(s.base + '/health')).ok
    } catch {
      return false
    }
  }, 30000, () => output.join(''))
  return s
}

/**
 * Polls `check` every 50 ms until it returns something other than false,
 * undefined or null, and resolves with that; rejects after `timeout` ms,
 * with `context()` (a service's output, say) in the message.
 */
export async function waitFor<T> (what: string, check: () => Promise<T | false | undefined | null> | T | false | undefined | null, timeout = 15000, context?: () => string): Promise<T> {
  const deadline = Date.now() + timeout
  for (;;) {
    const value = await check()
    if (value !== false && value !== undefined && value !== null) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}${context ? ':\n' + context() : ''}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** What asyncApi() needs of a tap test. */
interface Asserts {
  equal (found: unknown, wanted: unknown, message: string): unknown
  same (found: unknown, wanted: unknown, message: string): unknown
  match (found: unknown, pattern: unknown, message: string): unknown
}

let parser: Parser | undefined

/**
 * Fetches a running service's AsyncAPI document (`asyncapi: true` serves it at
 * `/asyncapi.json`, and a page at `/asyncapi`), checks that @asyncapi/parser
 * finds no error in it (diagnostics of severity 0) and that the page is
 * served, and resolves with the document for the caller to look into.
 */
export async function asyncApi (t: Asserts, s: Service): Promise<any> {
  const { status, json: doc } = await http('GET', s.base + '/asyncapi.json')
  t.equal(status, 200, `${s.name} serves /asyncapi.json`)
  t.match(doc, { asyncapi: '3.0.0', info: { title: String, version: String } }, `${s.name}: an AsyncAPI 3.0 document`)
  parser ??= new Parser()
  const { diagnostics } = await parser.parse(JSON.stringify(doc))
  const errors = diagnostics.filter((d) => d.severity === 0).map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`)
  t.same(errors, [], `${s.name}: @asyncapi/parser finds no error in the document`)
  const page = await fetch(s.base + '/asyncapi')
  t.equal(page.status, 200, `${s.name} serves the page at /asyncapi`)
  t.match(page.headers.get('content-type'), /^text\/html/, `${s.name}: the page is HTML`)
  t.match(await page.text(), /\/asyncapi\.json/, `${s.name}: the page loads /asyncapi.json`)
  return doc
}

/** Follows a local `$ref` (`#/channels/...`) in an AsyncAPI document, and the refs it leads to. */
export function deref (doc: any, ref: { $ref: string }): any {
  const target = ref.$ref.slice(2).split('/').reduce((node, part) => node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc)
  return typeof target?.$ref === 'string' ? deref(doc, target) : target
}

/**
 * A plain amqplib client in an example's virtual host, standing for a
 * producer that does not use the example's contracts: `publish()` sends JSON
 * to the `warren` exchange (confirmed), `take()` gets one message from a
 * queue (false while the queue is empty or not declared yet). Closed after the test.
 */
export async function rawClient (t: TestLike, amqpUrl: string): Promise<{
  publish (routingKey: string, body: unknown, options?: amqplib.Options.Publish): Promise<void>
  take (queue: string): Promise<GetMessage | false>
}> {
  const conn = await amqplib.connect(amqpUrl)
  conn.on('error', () => {}) // the vhost's deletion closes it
  t.teardown(() => conn.close().catch(() => {}))
  return {
    async publish (routingKey, body, options = {}) {
      const ch = await conn.createConfirmChannel()
      ch.publish('warren', routingKey, Buffer.from(JSON.stringify(body)), { contentType: 'application/json', ...options })
      await ch.waitForConfirms()
      await ch.close()
    },
    async take (queue) {
      // A queue not declared yet (a dead-letter queue before its first message) closes the channel.
      const ch = await conn.createChannel()
      ch.on('error', () => {})
      try {
        return await ch.get(queue, { noAck: true })
      } catch {
        return false
      } finally {
        await ch.close().catch(() => {})
      }
    }
  }
}

/** An HTTP call with a JSON body (if any), resolving with the status and the parsed JSON answer. */
export async function http (method: string, url: string, body?: unknown): Promise<{ status: number, json: any }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, json: text ? JSON.parse(text) : undefined }
}

/**
 * Runs `npm run example:<name>` as a user does, with every port shifted to a
 * free range, waits for its "All services are up" banner, runs `during` if
 * given (the launcher still up), then sends SIGINT
 * to its process group (Ctrl-C) and resolves, once every process has let go
 * of the output, with the banner, the whole output and the services that
 * logged "amqp closed" (drained and closed their connection).
 */
export async function launcher (
  t: TestLike,
  example: string,
  amqpUrl: string,
  during?: (ctx: { portBase: number, output: () => string }) => Promise<void>
): Promise<{ banner: string, output: string, closed: string[] }> {
  // Below 32768, where Linux picks the local ports of outgoing connections:
  // a port base up there can collide with a client socket of another test.
  const portBase = 20000 + Math.floor(Math.random() * 250) * 50
  const child = spawn('npm', ['run', '--silent', `example:${example}`], {
    cwd: ROOT,
    env: { ...process.env, AMQP_URL: amqpUrl, PORT_BASE: String(portBase), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true
  })
  let output = ''
  child.stdout!.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { output += d.toString() })
  // 'close': the launcher and npm have exited and nothing holds their output any more.
  const closed = once(child, 'close')
  t.teardown(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch {} })
  await waitFor(`the ${example} launcher's banner`, () => {
    if (child.exitCode !== null) throw new Error(`the launcher exited early:\n${output}`)
    return output.includes('Press Ctrl-C to stop')
  }, 60000, () => output)
  const banner = output.slice(output.indexOf('All services are up'))
  if (during !== undefined) await during({ portBase, output: () => output })
  // Ctrl-C in a terminal signals the whole foreground group: npm and the launcher.
  // npm re-raises the SIGINT on itself; what matters is that the services drained.
  process.kill(-child.pid!, 'SIGINT')
  await closed
  const drained = [...output.matchAll(/^\[([^\]]+)\] .*"msg":"amqp closed"/gm)].map((m) => m[1])
  return { banner, output, closed: drained.sort() }
}
