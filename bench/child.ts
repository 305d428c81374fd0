/*
 * A worker in a process of its own, driven over IPC: the parent forks it with
 * a config, waits for it to be ready, then sends commands ('start', 'stop'...)
 * and awaits each reply. Used where the CPU of one side must be measured
 * apart from the other: the RPC servers (bench/rpc-server.ts), the consumer
 * workers (bench/consume-worker.ts) and the memory-cost child.
 */
import { fork, type ChildProcess } from 'node:child_process'

interface Envelope { id: number, cmd: string, args?: unknown }
interface Reply { id: number, ok: boolean, value?: unknown, error?: string }

/** This process's CPU time (user + system, all threads) in microseconds, as a function of the last reading. */
export function cpuSince (start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start)
  return used.user + used.system
}

export interface Worker {
  readonly child: ChildProcess
  /** Sends a command and resolves with the worker's answer; rejects if the worker fails it or exits. */
  call: <T = unknown>(cmd: string, args?: unknown) => Promise<T>
  /** Asks the worker to close and waits for it to exit (killed after 10 s). */
  stop: () => Promise<void>
}

/**
 * Forks `file` (with this process's exec arguments: tsx's loader, --expose-gc)
 * and sends it `config`; resolves once it answered 'ready'.
 */
export function startWorker (file: string, config: unknown, { execArgv = process.execArgv }: { execArgv?: string[] } = {}): Promise<Worker> {
  const child = fork(file, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  let next = 1
  let exited: Error | undefined
  child.on('message', (msg: Reply) => {
    const p = pending.get(msg.id)
    if (!p) return
    pending.delete(msg.id)
    if (msg.ok) p.resolve(msg.value)
    else p.reject(new Error(`${file}: ${msg.error ?? 'failed'}`))
  })
  child.on('exit', (code) => {
    exited = new Error(`${file} exited (${code})`)
    for (const p of pending.values()) p.reject(exited)
    pending.clear()
  })
  const call = <T>(cmd: string, args?: unknown): Promise<T> => new Promise<T>((resolve, reject) => {
    if (exited) return reject(exited)
    const id = next++
    pending.set(id, { resolve, reject })
    child.send({ id, cmd, args } satisfies Envelope)
  })
  const stop = (): Promise<void> => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    child.once('exit', () => { clearTimeout(timer); resolve() })
    if (child.connected) child.disconnect()
  })
  const worker: Worker = { child, call, stop }
  return call('ready', config).then(() => worker, async (err: Error) => {
    await stop()
    throw err
  })
}

/**
 * The worker's side: answers each command with its handler's result. The
 * first command is 'ready' with the config; `close` runs when the parent
 * disconnects, and the process exits after it.
 */
export function serveCommands (handlers: Record<string, (args: any) => unknown>, close: () => Promise<unknown>): void {
  process.on('message', (msg: Envelope) => {
    const handler = handlers[msg.cmd]
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown command ${msg.cmd}`)
        return handler(msg.args)
      })
      .then((value) => process.send!({ id: msg.id, ok: true, value } satisfies Reply), (err: Error) => {
        process.send!({ id: msg.id, ok: false, error: err.stack ?? String(err) } satisfies Reply)
      })
  })
  process.once('disconnect', () => {
    const timer = setTimeout(() => process.exit(1), 10_000)
    close().then(() => process.exit(0), (err) => {
      console.error(err)
      process.exit(1)
    }).finally(() => clearTimeout(timer))
  })
}
