import { join } from 'node:path'
import { startWorker, type Worker } from '../child'
import { alternate, type Admin, type Row } from '../harness'
import type { CostConfig } from '../memory-cost-child'
import type { BenchOptions } from '../options'
import { startProxy } from '../proxy'

interface Held { bytesPerMessage: number, heldBytes: number }
interface Settled { leftBytes: number, failed: number }

/**
 * What one message held by the client costs in memory: published and awaiting
 * its confirm (the proxy holds the broker's confirms back), and buffered while
 * the connection is down (the plugin only). Heap plus external memory after a
 * full collection, in a child process per implementation, divided by the
 * messages held; the RSS over 1M messages is the memory scenario's.
 */
export async function memoryCostScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<Row[]> {
  const exchange = await admin.exchange('x')
  const key = await admin.queue('memory-cost', { exchange, args: { 'x-max-length': 100_000 } })
  const proxy = await startProxy(opts.url)
  const children: Partial<Record<CostConfig['impl'], Worker>> = {}
  const count = opts.costMessages
  try {
    for (const impl of ['plugin', 'raw'] as const) {
      const config: CostConfig = { impl, url: proxy.url, exchange, key }
      children[impl] = await startWorker(join(__dirname, '..', 'memory-cost-child.ts'), config, { execArgv: [...process.execArgv, '--expose-gc'] })
    }
    // What is still held once every publish settled (the last round of each), to show it is given back.
    const left = new Map<string, string>()
    const settle = async (what: string, child: Worker) => {
      const s = await child.call<Settled>('settle')
      if (s.failed > 0) throw new Error(`${what}: ${s.failed} of ${count} publishes failed`)
      left.set(what, `${what} ${Math.round(s.leftBytes / 1024)} KB`)
    }
    const inFlight = (impl: 'plugin' | 'raw') => async () => {
      const child = children[impl]!
      proxy.hold()
      let held: Held
      try {
        held = await child.call<Held>('measure', { mode: 'in-flight', count })
      } finally {
        proxy.release()
      }
      await settle(`${impl} in flight`, child)
      return held.bytesPerMessage
    }
    const buffered = async () => {
      const child = children.plugin!
      proxy.refuse()
      proxy.cut()
      let held: Held
      try {
        held = await child.call<Held>('measure', { mode: 'buffered', count })
      } finally {
        proxy.accept()
      }
      await settle('plugin buffered', child)
      return held.bytesPerMessage
    }
    const flight = await alternate(opts.curveRounds, { plugin: inFlight('plugin'), raw: inFlight('raw') }, log)
    // The proxy is about to cut every connection through it: the raw client is done.
    await children.raw!.stop()
    const offline = await alternate(opts.curveRounds, { plugin: buffered }, log)
    await admin.purge(key)
    const held = `${count.toLocaleString('en-US')} messages held at once; heap + external memory after a full collection, in a child process per client; left over once all were confirmed: ${[...left.values()].join(', ')}`
    return [{
      id: 'memory-per-in-flight',
      title: 'memory: client bytes per publish awaiting its confirm',
      unit: 'B',
      better: 'lower',
      samples: flight,
      baseline: 'raw',
      note: `the proxy holds the broker's confirms back; ${held}`
    }, {
      id: 'memory-per-buffered',
      title: 'memory: client bytes per publish buffered while offline',
      unit: 'B',
      better: 'lower',
      samples: { plugin: offline.plugin, raw: [] },
      baseline: 'raw',
      noRatio: true,
      note: 'the connection cut and refused by the proxy; raw amqplib has no buffer (a publish on a closed channel throws): n/a'
    }]
  } finally {
    await Promise.all(Object.values(children).map((c) => c.stop()))
    await proxy.close()
  }
}
