import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { AMQP_URL, deleteExchange } from '../helpers'

/*
 * The package as users get it: `npm pack` (whose prepack builds dist/), then
 * installed from the tarball into a fresh app outside this repository, next
 * to the published fastify, typescript and @types/node. Small programs in that
 * app load it with require(), with ESM import, and from TypeScript compiled in
 * two module modes, and talk to the real broker. Every program consumes from
 * its own routing key through an exclusive (server-named, auto-delete) queue,
 * so nothing is left on the broker.
 */

// Packing builds the project and installing fetches from the registry.
t.setTimeout(300_000)

const ROOT = join(__dirname, '..', '..')
const WORK = mkdtempSync(join(tmpdir(), 'warren-pkg-'))
const APP = join(WORK, 'app')
t.teardown(() => rmSync(WORK, { recursive: true, force: true }))

interface Run { code: number | null, stdout: string, stderr: string }

/** Runs a command to completion; never throws, so a test can show what went wrong. */
function run (file: string, args: string[], cwd: string, timeout = 30_000): Promise<Run> {
  // Variables npm sets for the script running this test (npm_package_*,
  // npm_lifecycle_*, ...) describe this repository, not the fresh app.
  const env: NodeJS.ProcessEnv = { AMQP_URL }
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_(package|lifecycle|command)|^INIT_CWD$/.test(k) && k !== 'AMQP_URL') env[k] = v
  }
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, timeout, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0
      resolve({ code, stdout, stderr: stderr + (err && code === null ? `\n${err.message}` : '') })
    })
  })
}

const show = (r: Run): string => `exit ${r.code}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`
/** What a run printed, for an assertion's diagnostics. */
const output = (r: Run): { stdout: string, stderr: string } => ({ stdout: r.stdout.slice(-4000), stderr: r.stderr.slice(-4000) })

/** The JSON object a program prints as its last line of output. */
function result (r: Run): any {
  const last = r.stdout.trim().split('\n').pop() ?? ''
  try {
    return JSON.parse(last)
  } catch {
    throw new Error(`expected JSON as the last line of output\n${show(r)}`)
  }
}

/** A routing key for one program run; the program's exchange is `<key>.x`, deleted after the test. */
const key = (t: { teardown: (fn: () => unknown) => void }): string => {
  const k = `wt.pkg.${randomBytes(4).toString('hex')}`
  t.teardown(() => deleteExchange(`${k}.x`))
  return k
}

const node = (cwd: string, ...args: string[]): Promise<Run> => run(process.execPath, args, cwd)
const tsc = (project: string): Promise<Run> => run(process.execPath, [join(APP, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], APP, 120_000)

interface Packed { tarball: string, files: string[] }

async function pack (): Promise<Packed> {
  const r = await run('npm', ['pack', '--json', '--pack-destination', WORK], ROOT, 180_000)
  if (r.code !== 0) throw new Error(`npm pack failed\n${show(r)}`)
  // npm prints the JSON report after anything the prepack build wrote.
  const report = JSON.parse(r.stdout.slice(r.stdout.indexOf('\n[') + 1 || r.stdout.indexOf('[')))
  return {
    tarball: join(WORK, report[0].filename),
    files: report[0].files.map((f: { path: string }) => f.path)
  }
}

async function install (tarball: string): Promise<void> {
  mkdirSync(APP)
  writeFileSync(join(APP, 'package.json'), JSON.stringify({ name: 'warren-pkg-app', version: '1.0.0', private: true }, null, 2))
  const r = await run('npm', [
    'install', tarball, 'fastify@5', 'typescript@~5.9', '@types/node@20', 'express@5', '@types/express@5',
    '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock'
  ], APP, 240_000)
  if (r.code !== 0) throw new Error(`npm install of the tarball failed\n${show(r)}`)
}

const packed = pack()
const installed = packed.then((p) => install(p.tarball))
// Each test awaits these; this only keeps an early failure from counting as unhandled.
installed.catch(() => {})

/* ---------- the programs ---------- */

/** Shared by the CJS and ESM programs: consume a key, publish to it, print what arrived. */
const roundTrip = (how: string): string => `
const guard = setTimeout(() => { console.error('stuck at: ' + stage); process.exit(3) }, 20000)
guard.unref()
let stage = 'register'
const routingKey = process.argv[2]
const app = Fastify()
await app.register(warren, { url: process.env.AMQP_URL, exchange: routingKey + '.x' })
let received
const arrived = new Promise((resolve) => { received = resolve })
const consumer = app.amqp.consume(routingKey, async (msg) => { received(msg.body) }, { exclusive: true })
stage = 'ready'
await app.ready()
await consumer.ready()
stage = 'publish'
const receipt = await app.amqp.publish(routingKey, { hello: '${how}', n: 1 })
stage = 'consume'
const body = await arrived
stage = 'close'
await app.close()
console.log(JSON.stringify({
  plugin: typeof warren,
  isDefault: warren.default === warren,
  isNamed: warren.warren === warren,
  rpcTimeout: typeof warren.errors.FST_AMQP_RPC_TIMEOUT,
  messageId: typeof receipt.messageId,
  body
}))
`

const CJS = `'use strict'
const Fastify = require('fastify')
const warren = require('fastify-warren')
;(async () => {
${roundTrip('cjs')}
})().catch((err) => { console.error(err); process.exit(1) })
`

const ESM = `import Fastify from 'fastify'
import warren from 'fastify-warren'
${roundTrip('esm')}
`

const NAMED_ESM = `import warren, { errors, warren as named } from 'fastify-warren'
const err = new errors.FST_AMQP_RPC_TIMEOUT()
console.log(JSON.stringify({ code: err.code, statusCode: err.statusCode, isError: err instanceof Error, same: named === warren }))
`

/** Typed use of the public API; compiled as ESM (.mts, nodenext) and as CommonJS, then run. */
const TYPED = `import Fastify from 'fastify'
import warren from 'fastify-warren'
import type { Consumer, PublishReceipt, WarrenMessage, WarrenOptions } from 'fastify-warren'

interface Sum { a: number, b: number }

async function main (): Promise<void> {
  const routingKey = process.argv[2]
  const options: WarrenOptions = { url: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672', exchange: routingKey + '.x', prefetch: 5 }
  const app = Fastify()
  await app.register(warren, options)
  const add = async (msg: WarrenMessage<Sum>): Promise<number> => msg.body.a + msg.body.b
  const consumer: Consumer = app.amqp.consume<Sum>(routingKey, async (msg) => msg.body.a + msg.body.b, { exclusive: true })
  const typedConsumer: Consumer = app.amqp.consume<Sum, number>(routingKey + '.add', add, { exclusive: true })
  await app.ready()
  await Promise.all([consumer.ready(), typedConsumer.ready()])
  const receipt: PublishReceipt = await app.amqp.publish(routingKey, { a: 0, b: 0 })
  const sum: number = await app.amqp.request<number>(routingKey, { a: 2, b: 3 }, { timeout: 5000 })
  await app.close()
  console.log(JSON.stringify({ sum, messageId: typeof receipt.messageId, isErrorClass: typeof warren.errors.FST_AMQP_RPC_TIMEOUT }))
}

main().catch((err) => { console.error(err); process.exit(1) })
`

/** Wrong use that must not compile; each line marked BAD must be reported, and no other. */
const WRONG = [
  "import Fastify from 'fastify'",
  "import warren from 'fastify-warren'",
  '',
  'async function main (): Promise<void> {',
  '  const app = Fastify()',
  '  await app.register(warren, { url: 42 }) // BAD: url is a string or string[]',
  '  await app.amqp.publish(123, {}) // BAD: the routing key is a string',
  "  const text: string = await app.amqp.request<number>('k', {}) // BAD: the reply is typed number",
  "  app.amqp.consume<{ a: number }>('k', async (msg) => msg.body.c) // BAD: the body has no c",
  "  await app.register(warren, { url: 'amqp://x', prefetch: '10' }) // BAD: prefetch is a number",
  '  console.log(text)',
  '}',
  '',
  'void main()',
  ''
]

/** fastify-warren/testing from a user's ESM test: two apps on one memory broker, no RabbitMQ. */
const MEMORY = `
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { memoryBroker } from 'fastify-warren/testing'
const broker = memoryBroker()
const a = Fastify()
const b = Fastify()
await a.register(warren, { url: broker.url })
await b.register(warren, { url: broker.url })
const seen = []
b.amqp.consume('orders.placed', async (msg) => { seen.push(msg.body) })
await b.ready()
await a.ready()
await a.amqp.publish('orders.placed', { id: 1 })
await broker.settled()
await a.close()
await b.close()
console.log(JSON.stringify({ url: broker.url.startsWith('memory://'), seen }))
`

/** A worker and an Express app on one client, over the memory broker, with what each import loaded. */
const EXPRESS_ESM = `
import { createRequire } from 'node:module'
import { createWarren } from 'fastify-warren'
import { warrenMiddleware, warrenHealth, warrenErrorHandler } from 'fastify-warren/express'
const require = createRequire(import.meta.url)
const loaded = () => Object.keys(require.cache)
const fastifyBefore = loaded().some((f) => f.includes('/node_modules/fastify/'))
const expressBefore = loaded().some((f) => f.includes('/node_modules/express/'))
const { default: express } = await import('express')
const warren = createWarren({ url: 'memory://pkg' })
const seen = []
warren.consume('orders.created', async (msg) => { seen.push(msg.body) })
const app = express()
app.use(express.json(), warrenMiddleware(warren))
app.post('/orders', async (req, res) => {
  await req.amqp.publish('orders.created', req.body)
  res.status(202).json({ accepted: true })
})
app.get('/health', warrenHealth(warren))
app.use(warrenErrorHandler())
await warren.start()
const server = app.listen(0)
await new Promise((resolve) => server.once('listening', resolve))
const base = 'http://127.0.0.1:' + server.address().port
const posted = await fetch(base + '/orders', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":1}' })
const health = await fetch(base + '/health')
await new Promise((resolve) => setTimeout(resolve, 50))
server.close()
await warren.close()
console.log(JSON.stringify({ fastifyLoaded: fastifyBefore, expressLoadedByRoot: expressBefore, posted: posted.status, health: health.status, seen }))
`

/** fastify-warren/express from require(): the functions, and no fastify loaded. */
const EXPRESS_CJS = `'use strict'
const subpath = require('fastify-warren/express')
const fastifyLoaded = Object.keys(require.cache).some((f) => f.includes('/node_modules/fastify/'))
console.log(JSON.stringify({ fastifyLoaded, exports: Object.keys(subpath).sort() }))
`

/** req.amqp typed by the subpath's declaration merging. */
const EXPRESS_TYPED = `import express from 'express'
import { createWarren } from 'fastify-warren'
import { warrenMiddleware } from 'fastify-warren/express'
const warren = createWarren({ url: 'memory://typed' })
const app = express()
app.use(warrenMiddleware(warren))
app.post('/x', async (req, res) => {
  const receipt = await req.amqp.publish('k', { a: 1 })
  const id: string = receipt.messageId
  // @ts-expect-error publish() takes a routing key string or a definition
  await req.amqp.publish(42, {})
  res.json({ id })
})
`

function writeApp (): void {
  writeFileSync(join(APP, 'express.mjs'), EXPRESS_ESM)
  writeFileSync(join(APP, 'express.cjs'), EXPRESS_CJS)
  writeFileSync(join(APP, 'express-typed.mts'), EXPRESS_TYPED)
  writeFileSync(join(APP, 'app.cjs'), CJS)
  writeFileSync(join(APP, 'memory.mjs'), MEMORY)
  writeFileSync(join(APP, 'app.mjs'), ESM)
  writeFileSync(join(APP, 'named.mjs'), NAMED_ESM)
  writeFileSync(join(APP, 'typed.mts'), TYPED)
  writeFileSync(join(APP, 'typed.ts'), TYPED)
  writeFileSync(join(APP, 'wrong.ts'), WRONG.join('\n'))
  const strict = { target: 'es2022', strict: true, types: ['node'], skipLibCheck: false, noEmitOnError: true }
  writeFileSync(join(APP, 'tsconfig.esm.json'), JSON.stringify({
    compilerOptions: { ...strict, module: 'nodenext', moduleResolution: 'nodenext', outDir: 'out-esm' },
    files: ['typed.mts']
  }))
  writeFileSync(join(APP, 'tsconfig.cjs.json'), JSON.stringify({
    compilerOptions: { ...strict, module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true, outDir: 'out-cjs' },
    files: ['typed.ts']
  }))
  writeFileSync(join(APP, 'tsconfig.express.json'), JSON.stringify({
    compilerOptions: { ...strict, module: 'nodenext', moduleResolution: 'nodenext', noEmit: true },
    files: ['express-typed.mts']
  }))
  writeFileSync(join(APP, 'tsconfig.wrong.json'), JSON.stringify({
    compilerOptions: { ...strict, module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true, noEmit: true },
    files: ['wrong.ts']
  }))
}

const ready = installed.then(writeApp)
ready.catch(() => {})

/* ---------- the tests ---------- */

t.test('npm pack ships the built JavaScript and declarations, not the TypeScript sources or tests', async (t) => {
  const { files } = await packed
  t.ok(files.includes('package.json'), 'package.json is packed')
  t.ok(files.includes('dist/index.js'), 'dist/index.js is packed')
  t.ok(files.includes('dist/index.d.ts'), 'dist/index.d.ts is packed')
  t.same(files.filter((f) => /^(lib|test|examples|\.ci)\//.test(f) || /(?<!\.d)\.ts$/.test(f)), [], 'no sources or tests are packed')
})

t.test('the tarball installs into a fresh app with its runtime dependencies', async (t) => {
  await installed
  const modules = readdirSync(join(APP, 'node_modules'))
  for (const dep of ['fastify-warren', 'amqplib', 'fastify-plugin', 'fastify']) t.ok(modules.includes(dep), `${dep} is installed`)
})

for (const [how, file, hello] of [['require()', 'app.cjs', 'cjs'], ['ESM default import', 'app.mjs', 'esm']]) {
  t.test(`${how} gives the plugin, which publishes and consumes against the broker`, async (t) => {
    await ready
    const r = await node(APP, file, key(t))
    t.equal(r.code, 0, 'the program exits 0', output(r))
    if (r.code !== 0) return
    t.same(result(r), {
      plugin: 'function',
      isDefault: true,
      isNamed: true,
      rpcTimeout: 'function',
      messageId: 'string',
      body: { hello, n: 1 }
    }, 'the consumer received the published body')
  })
}

t.test('fastify-warren/testing runs two apps on one memory broker, with no RabbitMQ', async (t) => {
  await ready
  const r = await node(APP, 'memory.mjs')
  t.equal(r.code, 0, 'the program exits 0', output(r))
  if (r.code !== 0) return
  t.same(result(r), { url: true, seen: [{ id: 1 }] }, 'the second app consumed what the first published')
})

t.test('fastify-warren/express as ESM serves a POST that publishes through req.amqp, without loading fastify, and the root loads no express', async (t) => {
  await ready
  const r = await node(APP, 'express.mjs')
  t.equal(r.code, 0, 'the program exits 0', output(r))
  if (r.code !== 0) return
  t.same(result(r), { fastifyLoaded: false, expressLoadedByRoot: false, posted: 202, health: 200, seen: [{ id: 1 }] })
})

t.test('fastify-warren/express from require() gives its three functions without loading fastify', async (t) => {
  await ready
  const r = await node(APP, 'express.cjs')
  t.equal(r.code, 0, 'the program exits 0', output(r))
  if (r.code !== 0) return
  t.same(result(r), { fastifyLoaded: false, exports: ['warrenErrorHandler', 'warrenHealth', 'warrenMiddleware'] })
})

t.test('req.amqp is typed in an Express app compiled with module nodenext', async (t) => {
  await ready
  const c = await tsc('tsconfig.express.json')
  t.equal(c.code, 0, 'tsc -p tsconfig.express.json exits 0', output(c))
})

t.test('ESM named imports { errors, warren } give the coded error constructors and the plugin', async (t) => {
  await ready
  const r = await node(APP, 'named.mjs')
  t.equal(r.code, 0, 'the program exits 0', output(r))
  if (r.code !== 0) return
  t.same(result(r), { code: 'FST_AMQP_RPC_TIMEOUT', statusCode: 504, isError: true, same: true }, 'errors and warren are named exports')
})

for (const [mode, config, program] of [
  ['module nodenext as ESM', 'tsconfig.esm.json', join('out-esm', 'typed.mjs')],
  ['module commonjs and esModuleInterop', 'tsconfig.cjs.json', join('out-cjs', 'typed.js')]
]) {
  t.test(`typed use compiles with ${mode}, and the output publishes, consumes and replies`, async (t) => {
    await ready
    const c = await tsc(config)
    t.equal(c.code, 0, `tsc -p ${config} exits 0`, output(c))
    if (c.code !== 0) return
    const r = await node(APP, program, key(t))
    t.equal(r.code, 0, 'the program exits 0', output(r))
    if (r.code !== 0) return
    t.same(result(r), { sum: 5, messageId: 'string', isErrorClass: 'function' }, 'request() got the sum the consumer replied')
  })
}

t.test('TypeScript rejects wrong use: a non-string URL or routing key, a mistyped reply or body, a string prefetch', async (t) => {
  await ready
  const c = await tsc('tsconfig.wrong.json')
  t.not(c.code, 0, 'tsc -p tsconfig.wrong.json fails')
  const expected = WRONG.flatMap((line, i) => line.includes('// BAD') ? [i + 1] : [])
  const reported = [...new Set([...c.stdout.matchAll(/wrong\.ts\((\d+),\d+\): error TS\d+/g)].map((m) => Number(m[1])))]
  t.same(reported.sort((a, b) => a - b), expected, 'tsc reports errors on exactly the BAD lines', output(c))
})
