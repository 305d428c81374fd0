import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { Admin, alternate, MESSAGE, type Row } from '../harness'
import type { BenchOptions } from '../options'

/** Starts bench/http-server.ts in a child process; resolves with it and its port. */
function startServer (config: { url: string, exchange: string, queue: string }): Promise<{ child: ChildProcess, port: number }> {
  const child = fork(join(__dirname, '..', 'http-server.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    child.once('message', (msg: { port: number }) => resolve({ child, port: msg.port }))
    child.once('exit', (code) => reject(new Error(`the HTTP server exited (${code}) before listening`)))
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

/** Scenario 4: HTTP POST → confirmed publish through a Fastify route, next to the same route without the publish. */
export async function httpScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<Row[]> {
  const exchange = await admin.exchange('x')
  const queue = await admin.queue('http', { exchange })
  const { child, port } = await startServer({ url: opts.url, exchange, queue })
  try {
    const route = (path: string, seconds: number) => async () => {
      await admin.purge(queue)
      return load(port, path, seconds, opts.httpConnections)
    }
    const paths = { plugin: '/plugin', raw: '/raw', bare: '/bare' }
    for (const path of Object.values(paths)) await route(path, 1)()
    const rates = await alternate(opts.rounds, {
      plugin: route(paths.plugin, opts.httpSeconds),
      raw: route(paths.raw, opts.httpSeconds),
      bare: route(paths.bare, opts.httpSeconds)
    }, log)
    return [{
      id: 'http',
      title: `HTTP POST → confirmed publish, ${opts.httpConnections} connections`,
      unit: 'req/s',
      better: 'higher',
      samples: rates,
      baseline: 'bare',
      goal: { ratioAtLeast: 0.5 },
      note: 'bare: the same route without the publish; raw: the route publishing with raw amqplib'
    }]
  } finally {
    await stopServer(child)
  }
}
