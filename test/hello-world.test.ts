import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { AMQP_URL, admin } from './helpers'

/*
 * The hello-world example, run the way a user runs it: both services as real
 * processes, talking over HTTP and through the broker. A unique exchange and
 * queue keep this run apart from any other.
 */

const ROOT = join(__dirname, '..')
const EXAMPLE = join(ROOT, 'examples', 'hello-world')
const id = randomBytes(4).toString('hex')
const EXCHANGE = `wt.hello.${id}`
const QUEUE = `wt.hello.${id}.process`

interface Service {
  name: string
  base: string
  child: ChildProcess
  output: string[]
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/** Starts an example service with `node --import tsx`, stopped (if still running) after the tests. */
async function start (t: Test, name: string, env: Record<string, string>): Promise<Service> {
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', join(EXAMPLE, `${name}.ts`)], {
    cwd: ROOT,
    env: { ...process.env, AMQP_URL, WARREN_EXCHANGE: EXCHANGE, HOST: '127.0.0.1', PORT: String(port), PORT1: String(port), PORT2: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const output: string[] = []
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()))
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()))
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }))
  const service = { name, base: `http://127.0.0.1:${port}`, child, output, exited }
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const killer = setTimeout(() => child.kill('SIGKILL'), 10000)
      child.kill('SIGTERM')
      await exited
      clearTimeout(killer)
    }
  })
  await waitForHttp(service)
  return service
}

/** Polls until the service answers HTTP at all; fails early, with its output, if it exits. */
async function waitForHttp (s: Service, timeout = 30000): Promise<void> {
  const deadline = Date.now() + timeout
  for (;;) {
    if (s.child.exitCode !== null || s.child.signalCode !== null) {
      throw new Error(`${s.name} exited before answering:\n${s.output.join('')}`)
    }
    try {
      await fetch(s.base + '/')
      return
    } catch {
      if (Date.now() > deadline) throw new Error(`${s.name} did not answer within ${timeout} ms:\n${s.output.join('')}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

async function postProcess (s: Service, body: unknown): Promise<{ status: number, json: any }> {
  const res = await fetch(s.base + '/process', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body)
  })
  return { status: res.status, json: await res.json() }
}

/** Polls GET /processed?id= until the item appears. */
async function waitForProcessed (s: Service, itemId: string, timeout = 15000): Promise<any> {
  const deadline = Date.now() + timeout
  for (;;) {
    const res = await fetch(`${s.base}/processed?id=${encodeURIComponent(itemId)}`)
    const items = await res.json() as any[]
    if (items.length > 0) return items[0]
    if (Date.now() > deadline) throw new Error(`item ${itemId} not processed within ${timeout} ms:\n${s.output.join('')}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

t.test('the hello-world example', async (t) => {
  // Registered first, so it runs last: after both services have stopped.
  const broker = await admin(t)
  broker.queues.push(QUEUE)
  broker.exchanges.push(EXCHANGE)

  const service1 = await start(t, 'service1', {})

  await t.test('service 1 answers 502 FST_AMQP_UNROUTABLE while no service 2 has bound a queue', async (t) => {
    const { status, json } = await postProcess(service1, { text: 'nobody listens' })
    t.equal(status, 502)
    t.equal(json.code, 'FST_AMQP_UNROUTABLE')
  })

  const service2 = await start(t, 'service2', { WARREN_QUEUE: QUEUE })

  await t.test('a posted text is queued, then processed and listed by service 2', async (t) => {
    const { status, json } = await postProcess(service1, { text: 'hello  brave new world' })
    t.equal(status, 202)
    t.equal(json.queued, true)
    t.type(json.id, 'string')

    const item = await waitForProcessed(service2, json.id)
    t.equal(item.id, json.id)
    t.equal(item.text, 'hello  brave new world')
    t.equal(item.upper, 'HELLO  BRAVE NEW WORLD')
    t.equal(item.wordCount, 4)
    t.type(item.receivedAt, 'string')
    t.ok(!Number.isNaN(Date.parse(item.processedAt)), 'processedAt is an ISO timestamp')

    const all = await (await fetch(service2.base + '/processed')).json() as any[]
    t.ok(all.some((x) => x.id === json.id), 'GET /processed without an id lists it too')
  })

  await t.test('GET /processed?id= returns an empty list for an unknown id', async (t) => {
    const res = await fetch(`${service2.base}/processed?id=no-such-id`)
    t.equal(res.status, 200)
    t.same(await res.json(), [])
  })

  await t.test('service 1 rejects a body without a string text with 400', async (t) => {
    // Not { text: 42 }: Fastify's Ajv coerces scalars, so that one is accepted as "42".
    for (const body of [{}, { txt: 'hello' }, { text: { nested: true } }]) {
      const { status, json } = await postProcess(service1, body)
      t.equal(status, 400, JSON.stringify(body))
      t.equal(json.code, 'FST_ERR_VALIDATION')
    }
  })

  await t.test('both services exit with code 0 on SIGTERM', async (t) => {
    for (const s of [service1, service2]) {
      s.child.kill('SIGTERM')
      t.same(await s.exited, { code: 0, signal: null }, s.name)
    }
  })
})
