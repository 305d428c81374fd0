/*
 * The `npm run example:<pattern>` launcher: starts an example's services in
 * order (each once its predecessor answers GET /health, so consumers have bound
 * their queues before producers publish), prefixes their output with their
 * name, and prints what to try. Ctrl-C sends each service one SIGTERM (so it
 * drains); if one dies, the others are stopped too.
 *
 * PORT_BASE (default 3000) shifts every port, for running two examples at once.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

/** One service process of an example. */
export interface ServiceSpec {
  /** Shown before each line of its output. */
  name: string
  /** Its file, relative to the example's folder. */
  file: string
  /** Its port when PORT_BASE is 3000. */
  port: number
  /** Extra environment variables. */
  env?: Record<string, string>
  /** A module to load before the service (`node --import`), e.g. to start tracing. */
  preload?: string
  /** For a service with no HTTP (a worker): it is up once a line of its output matches. */
  readyLine?: RegExp
}

const HOST = process.env.HOST ?? '127.0.0.1'
const shift = Number(process.env.PORT_BASE ?? 3000) - 3000
const children: ChildProcess[] = []
let stopping = false

/** Resolves once `child` prints a line matching `pattern` (a worker with no /health). */
function waitForLine (child: ChildProcess, pattern: RegExp, timeout = 30000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no line matching ${String(pattern)} within ${timeout} ms`)), timeout)
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        if (pattern.test(line)) {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  })
}

function start (dir: string, spec: ServiceSpec, port: number): ChildProcess {
  // `node --import tsx` runs TypeScript in one process (tsx's CLI would add a second).
  const preload = spec.preload === undefined ? [] : ['--import', spec.preload]
  const child = spawn(process.execPath, ['--import', 'tsx', ...preload, join(dir, spec.file)], {
    cwd: join(__dirname, '..', '..'),
    env: { ...process.env, ...spec.env, HOST, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Their own process group: Ctrl-C reaches only this launcher, which then sends
    // each service one SIGTERM (a second signal would make it skip draining).
    detached: true
  })
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => console.log(`[${spec.name}] ${line}`))
  }
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`[${spec.name}] exited (${signal ?? `code ${code}`}); stopping`)
      stop(1)
    }
  })
  children.push(child)
  return child
}

function stop (exitCode: number): void {
  // Ctrl-C can arrive more than once (the terminal signals the whole group, npm
  // forwards it too): each service must get one SIGTERM only, or it skips draining.
  if (stopping) return
  stopping = true
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null)
  let left = running.length
  if (left === 0) process.exit(exitCode)
  for (const child of running) {
    // 'close', not 'exit': the service's last lines are still in its pipes at 'exit'.
    child.once('close', () => { if (--left === 0) process.exit(exitCode) })
    child.kill('SIGTERM')
  }
}

async function waitForHealth (url: string, timeout = 30000): Promise<void> {
  const deadline = Date.now() + timeout
  // eslint-disable-next-line no-unmodified-loop-condition -- set by the signal handler
  while (!stopping) {
    try {
      if ((await fetch(url)).ok) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeout} ms`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/**
 * Starts `services` from the example folder `dir` in order, then prints
 * `banner(url)`, where `url(name)` is a service's base URL.
 */
export function launch (dir: string, services: ServiceSpec[], banner: (url: (name: string) => string) => string): void {
  const urls = new Map(services.map((s) => [s.name, `http://${HOST}:${s.port + shift}`]))
  const url = (name: string): string => {
    const u = urls.get(name)
    if (!u) throw new Error(`no service named ${name}`)
    return u
  }
  process.on('SIGINT', () => stop(0))
  process.on('SIGTERM', () => stop(0))
  const main = async (): Promise<void> => {
    for (const spec of services) {
      const child = start(dir, spec, spec.port + shift)
      if (spec.readyLine !== undefined) await waitForLine(child, spec.readyLine)
      else await waitForHealth(url(spec.name) + '/health')
      if (stopping) return
    }
    console.log(`\nAll services are up. Try:\n\n${banner(url).replace(/^/gm, '  ').trimEnd()}\n\nPress Ctrl-C to stop.\n`)
  }
  main().catch((err: unknown) => {
    console.error(err)
    stop(1)
  })
}
