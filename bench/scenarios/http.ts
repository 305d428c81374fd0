import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { Admin, alternate, MESSAGE, type Row } from '../harness'
import type { BenchOptions } from '../options'

/*
 * Scenario 4: HTTP POST → confirmed publish, through Fastify and through
 * Express. Each framework's app runs in a child process of its own, one after
 * the other (never both loaded at once), and serves three routes: the
 * publish through the plugin, the same route written by hand with raw
 * amqplib (the baseline: same guarantees), and the route without the
 * publish (bare, for information). Within each app the routes alternate
 * round by round.
 */

/** One framework's app: the row it reports and the child that serves it. */
interface Host {
  id: string
  name: string
  file: string
}

const HOSTS: Host[] = [
  { id: 'http', name: 'Fastify', file: 'http-server.ts' },
  { id: 'http-express', name: 'Express', file: 'http-express-server.ts' }
]

interface Config {
  url: string
  exchange: string
  queue: string
}

/** Starts a server (bench/<file>) in a child process; resolves with it and its port. */
function startServer (file: string, config: Config): Promise<{ child: ChildProcess, port: number }> {
  const child = fork(join(__dirname, '..', file), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    child.once('message', (msg: { port: number }) => resolve({ child, port: msg.port }))
    child.once('exit', (code) => reject(new Error(`the HTTP server ${file} exited (${code}) before listening`)))
    child.send(config)
  })
}

function stopServer (child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve()
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    child.once('exit', () => { clearTimeout(timer); resolve() })
    child.disconnect()
  })
}

/** Loads one route for `seconds`; resolves with the mean requests per second. Any failed request fails the run. */
async function load (port: number, path: string, seconds: number, connections: number): Promise<number> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}${path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(MESSAGE),
    connections,
    duration: seconds
  })
  const failed = result.errors + result.timeouts + result.non2xx
  if (failed > 0) throw new Error(`POST ${path}: ${failed} of ${result.requests.total} requests failed`)
  return result.requests.total / seconds
}

/** Serves one host's app and loads its three routes, alternating them each round; the row of its rates. */
async function measure (host: Host, config: Config, opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<Row> {
  log(`  ${host.name}:`)
  const { child, port } = await startServer(host.file, config)
  try {
    const route = (path: string, seconds: number) => async () => {
      await admin.purge(config.queue)
      return load(port, path, seconds, opts.httpConnections)
    }
    const paths = { plugin: '/plugin', raw: '/raw', bare: '/bare' }
    for (const path of Object.values(paths)) await route(path, 1)()
    const rates = await alternate(opts.rounds, {
      plugin: route(paths.plugin, opts.httpSeconds),
      raw: route(paths.raw, opts.httpSeconds),
      bare: route(paths.bare, opts.httpSeconds)
    }, log)
    return {
      id: host.id,
      title: `HTTP POST → confirmed publish, ${host.name}, ${opts.httpConnections} connections`,
      unit: 'req/s',
      better: 'higher',
      samples: rates,
      baseline: 'raw',
      goal: { ratioAtLeast: 0.95 },
      note: `${host.name} app; raw: the same route publishing with amqplib by hand (JSON, persistent, mandatory, confirm awaited); bare: the route without the publish, for information`
    }
  } finally {
    await stopServer(child)
  }
}

/** Scenario 4: the Fastify app, then the Express app; a row each, the plugin's route against the raw one. */
export async function httpScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<Row[]> {
  const exchange = await admin.exchange('x')
  const queue = await admin.queue('http', { exchange })
  const rows: Row[] = []
  for (const host of HOSTS) rows.push(await measure(host, { url: opts.url, exchange, queue }, opts, admin, log))
  return rows
}
