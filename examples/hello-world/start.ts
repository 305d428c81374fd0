/*
 * `npm start`: runs service 2 (the consumer) and then service 1 (the HTTP
 * front), prefixes their output, and prints what to try once both answer.
 * Ctrl-C stops both; if one dies, the other is stopped too.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

const HOST = process.env.HOST ?? '127.0.0.1'
const PORT1 = process.env.PORT1 ?? '3000'
const PORT2 = process.env.PORT2 ?? '3001'
const children: ChildProcess[] = []
let stopping = false

function run (name: string, file: string): ChildProcess {
  // `node --import tsx` runs TypeScript in one process (tsx's CLI would add a second).
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, file)], {
    cwd: join(__dirname, '..', '..'),
    env: { ...process.env, HOST, PORT1, PORT2 },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Their own process group: Ctrl-C reaches only this launcher, which then sends
    // each service one SIGTERM (a second signal would make it skip draining).
    detached: true
  })
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => console.log(`[${name}] ${line}`))
  }
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`[${name}] exited (${signal ?? `code ${code}`}); stopping`)
      stop(1)
    }
  })
  children.push(child)
  return child
}

function stop (exitCode: number): void {
  stopping = true
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null)
  let left = running.length
  if (left === 0) process.exit(exitCode)
  for (const child of running) {
    child.once('exit', () => { if (--left === 0) process.exit(exitCode) })
    child.kill('SIGTERM')
  }
}

async function waitForHttp (url: string, timeout = 30000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!stopping) {
    try {
      await fetch(url)
      return
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeout} ms`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
}

async function main (): Promise<void> {
  process.on('SIGINT', () => stop(0))
  process.on('SIGTERM', () => stop(0))
  // Service 2 first: its queue must be bound before service 1 publishes.
  run('service2', 'service2.ts')
  await waitForHttp(`http://${HOST}:${PORT2}/processed`)
  if (stopping) return
  run('service1', 'service1.ts')
  await waitForHttp(`http://${HOST}:${PORT1}/health`)
  if (stopping) return
  console.log(`
Both services are up. Try:

  curl -X POST http://${HOST}:${PORT1}/process -H 'content-type: application/json' -d '{"text":"hello world"}'
  curl http://${HOST}:${PORT2}/processed

Press Ctrl-C to stop.
`)
}

main().catch((err: unknown) => {
  console.error(err)
  stop(1)
})
