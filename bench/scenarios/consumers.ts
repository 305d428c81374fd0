import { join } from 'node:path'
import os from 'node:os'
import { coresBetween, findBrokerPid, readCpu, saturation } from '../broker-cpu'
import { startWorker, type Worker } from '../child'
import type { WorkerConfig, WorkerImpl } from '../consume-worker'
import type { Curve, CurvePoint } from '../curves'
import { alternate, type Admin } from '../harness'
import type { BenchOptions } from '../options'
import { perSecond } from '../stats'

/** The numbers of worker processes, the points of the curve. */
export const WORKER_COUNTS = [1, 2, 4]

interface WorkerResult { cpuUs: number, ms: number, handled: number }

interface Round {
  rate: number
  /** CPU of all workers per message, in microseconds. */
  cpu: number
  /** Cores used by the busiest worker, by the broker, by the machine. */
  workerCores: number
  brokerCores: number
  machineCores: number
  workers: WorkerResult[]
}

/** Resolves when the workers' reported progress adds up to `total`, or with false once none was reported for `stallMs`. */
function progressOf (workers: Worker[], total: number, stallMs: number): { done: Promise<boolean>, dispose: () => void } {
  const counts = new Array<number>(workers.length).fill(0)
  let finish!: (ok: boolean) => void
  const done = new Promise<boolean>((resolve) => { finish = resolve })
  let last = -1
  const watch = setInterval(() => {
    const sum = counts.reduce((a, b) => a + b, 0)
    if (sum === last) finish(false)
    last = sum
  }, stallMs)
  const listeners = workers.map((w, i) => {
    const listener = (msg: { progress?: number }) => {
      if (msg.progress === undefined) return
      counts[i] = msg.progress
      if (counts.reduce((a, b) => a + b, 0) >= total) finish(true)
    }
    w.child.on('message', listener)
    return listener
  })
  const dispose = () => {
    clearInterval(watch)
    workers.forEach((w, i) => w.child.off('message', listeners[i]))
  }
  return { done, dispose }
}

/**
 * The consumers curve: 1, 2 and 4 worker processes (the plugin's, or raw
 * amqplib's) on one queue filled beforehand, prefetch 100 each; total
 * throughput, CPU per message over all workers, and the cores used by the
 * busiest worker, the broker (beam.smp, from /proc) and the machine, to say
 * which saturates.
 */
export async function consumersScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<{ rows: [], curves: Curve[] }> {
  const max = Math.max(...WORKER_COUNTS)
  const url = new URL(opts.url)
  const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(url.hostname)
  const brokerPid = local ? findBrokerPid(Number(url.port || 5672)) : undefined
  if (!brokerPid) log('  (no local beam.smp serving the broker\'s port: its CPU is not measured)')
  const pool: Worker[] = []
  const stallMs = opts.quick ? 2000 : 5000
  const total = opts.workerMessages
  try {
    // Each worker can run either client: the plugin's rounds and raw's use the same processes.
    await Promise.all(Array.from({ length: max }, async () => {
      const config: WorkerConfig = { url: opts.url, prefetch: opts.prefetch }
      pool.push(await startWorker(join(__dirname, '..', 'consume-worker.ts'), config))
    }))
    const round = (impl: WorkerImpl, count: number, n = total) => async (): Promise<Round> => {
      const workers = pool.slice(0, count)
      const queue = await admin.queue('consumers', { durable: true })
      await admin.fill(queue, n)
      const progress = progressOf(workers, n, stallMs)
      const before = readCpu(brokerPid)
      await Promise.all(workers.map((w) => w.call('start', { impl, queue })))
      const ok = await progress.done
      const after = readCpu(brokerPid)
      progress.dispose()
      const results = await Promise.all(workers.map((w) => w.call<WorkerResult>('stop')))
      await admin.deleteQueue(queue)
      const ms = after.at - before.at
      const handled = results.reduce((a, r) => a + r.handled, 0)
      if (!ok) log(`  ${impl} × ${count} stalled: ${handled} of ${n} handled`)
      const cores = coresBetween(before, after)
      return {
        rate: ok ? perSecond(n, ms) : NaN,
        cpu: ok ? results.reduce((a, r) => a + r.cpuUs, 0) / handled : NaN,
        workerCores: Math.max(...results.map((r) => r.cpuUs / 1000 / r.ms)),
        brokerCores: cores.broker,
        machineCores: cores.machine,
        workers: results
      }
    }
    // Warm-up of every worker, untimed.
    await round('plugin', max, Math.ceil(total / 4))()
    await round('raw', max, Math.ceil(total / 4))()
    const points: Array<{ count: number, results: Record<string, Round[]> }> = []
    for (const count of WORKER_COUNTS) {
      log(`  ${count} worker(s):`)
      points.push({ count, results: await alternate(opts.curveRounds, { plugin: round('plugin', count), raw: round('raw', count) }, log) })
    }
    const cpus = os.cpus().length
    const point = (p: typeof points[number], key: keyof Omit<Round, 'workers'>, detail = false): CurvePoint => ({
      x: p.count,
      label: `${p.count} worker${p.count > 1 ? 's' : ''}`,
      samples: Object.fromEntries(Object.entries(p.results).map(([impl, rounds]) => [impl, rounds.map((r) => r[key])])),
      detail: detail
        ? Object.fromEntries(Object.entries(p.results).map(([impl, rounds]) => [impl, rounds.map((r) => ({
          workers: r.workers,
          verdict: saturation({ broker: r.brokerCores, workers: r.workers.map((w) => w.cpuUs / 1000 / w.ms), machine: r.machineCores, cpus }).text
        }))]))
        : undefined
    })
    const verdicts = points.map((p) => {
      const last = p.results.plugin.at(-1)!
      return `${p.count}: ${saturation({ broker: last.brokerCores, workers: last.workers.map((w) => w.cpuUs / 1000 / w.ms), machine: last.machineCores, cpus }).text}`
    })
    const xTitle = `worker processes, prefetch ${opts.prefetch} each`
    return {
      rows: [],
      curves: [{
        id: 'consumers-rate',
        title: 'consumers on one queue: total throughput',
        xTitle,
        unit: 'msg/s',
        better: 'higher',
        baseline: 'raw',
        points: points.map((p) => point(p, 'rate', true)),
        note: `what saturates (plugin, last round) at ${verdicts.join('; ')}`
      }, {
        id: 'consumers-cpu',
        title: 'consumers: CPU per message, all workers',
        xTitle,
        unit: 'µs',
        better: 'lower',
        baseline: 'raw',
        points: points.map((p) => point(p, 'cpu'))
      }, {
        id: 'consumers-worker-cores',
        title: 'consumers: cores used by the busiest worker',
        xTitle,
        unit: 'cores',
        better: 'lower',
        baseline: 'raw',
        noRatio: true,
        points: points.map((p) => point(p, 'workerCores'))
      }, {
        id: 'consumers-broker-cores',
        title: 'consumers: cores used by the broker',
        xTitle,
        unit: 'cores',
        better: 'lower',
        baseline: 'raw',
        noRatio: true,
        points: points.map((p) => point(p, 'brokerCores')),
        note: brokerPid ? `read from /proc/${brokerPid}/stat over each round` : 'no local beam.smp: not measured'
      }, {
        id: 'consumers-machine-cores',
        title: `consumers: cores used by the machine (of ${cpus})`,
        xTitle,
        unit: 'cores',
        better: 'lower',
        baseline: 'raw',
        noRatio: true,
        points: points.map((p) => point(p, 'machineCores')),
        note: 'every process on the machine, other sessions\' included'
      }]
    }
  } finally {
    await Promise.all(pool.map((w) => w.stop()))
  }
}
