import { fork } from 'node:child_process'
import { join } from 'node:path'
import { Admin, type Row } from '../harness'
import type { MemoryConfig, MemorySample } from '../memory-child'
import type { BenchOptions } from '../options'
import { median, perSecond, slope } from '../stats'

/** The first fifth of the messages warm up (JIT, buffers, pools); the rest should be flat. */
const WARM_UP = 0.2

/** What a memory run shows about leveling off after warm-up. */
export interface MemoryVerdict {
  /** Median RSS over the last fifth minus over the fifth after warm-up, in MB. */
  rssGrowthMB: number
  /** The same for the heap after a full collection. */
  heapGrowthMB: number
  /** Heap growth per message after warm-up (least squares), in bytes: a leak shows here. */
  heapBytesPerMessage: number
  peakRssMB: number
  /** RSS grew by at most max(5 MB, 5%), and the heap by at most max(2 MB, 10%), after warm-up. */
  flat: boolean
}

/** Judges a series of samples (taken every 1% of the messages). */
export function verdict (samples: MemorySample[], total: number): MemoryVerdict {
  const within = (from: number, to: number) => samples.filter((s) => s.messages > from * total && s.messages <= to * total)
  const early = within(WARM_UP, WARM_UP + 0.2)
  const late = within(0.8, 1)
  const after = within(WARM_UP, 1)
  const rssEarly = median(early.map((s) => s.rssMB))
  const heapEarly = median(early.map((s) => s.heapMB))
  const rssGrowthMB = median(late.map((s) => s.rssMB)) - rssEarly
  const heapGrowthMB = median(late.map((s) => s.heapMB)) - heapEarly
  return {
    rssGrowthMB,
    heapGrowthMB,
    heapBytesPerMessage: slope(after.map((s) => s.messages), after.map((s) => s.heapMB * 2 ** 20)),
    peakRssMB: Math.max(...samples.map((s) => s.rssMB)),
    flat: rssGrowthMB <= Math.max(5, rssEarly * 0.05) && heapGrowthMB <= Math.max(2, heapEarly * 0.1)
  }
}

/** Runs one implementation in a child process with --expose-gc. */
function runChild (config: MemoryConfig): Promise<{ samples: MemorySample[], ms: number }> {
  const child = fork(join(__dirname, '..', 'memory-child.ts'), [], {
    execArgv: [...process.execArgv, '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  return new Promise((resolve, reject) => {
    let result: { samples: MemorySample[], ms: number } | undefined
    child.once('message', (msg: { samples: MemorySample[], ms: number }) => { result = msg })
    child.once('exit', (code) => {
      if (code === 0 && result) resolve(result)
      else reject(new Error(`memory run (${config.impl}) exited with ${code}`))
    })
    child.send(config)
  })
}

/** Scenario 5: RSS and heap while messages flow publish → consume, one run per implementation. */
export async function memoryScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<Row[]> {
  const exchange = await admin.exchange('x')
  const verdicts: Record<string, MemoryVerdict> = {}
  const rates: Record<string, number> = {}
  const series: Record<string, MemorySample[]> = {}
  for (const impl of ['plugin', 'raw'] as const) {
    const queue = admin.forgetLater(`wb.memory.${impl}.${exchange.slice(5)}`)
    const { samples, ms } = await runChild({
      impl,
      url: opts.url,
      exchange,
      queue,
      messages: opts.memoryMessages,
      window: opts.window,
      backlog: opts.window * 2,
      prefetch: opts.prefetch
    })
    await admin.deleteQueue(queue)
    verdicts[impl] = verdict(samples, opts.memoryMessages)
    rates[impl] = perSecond(opts.memoryMessages, ms)
    series[impl] = samples
    log(`  ${impl}: ${JSON.stringify(verdicts[impl], (_, v) => typeof v === 'number' ? Math.round(v * 100) / 100 : v)}, ${Math.round(rates[impl])} msg/s`)
  }
  const pick = (f: (v: MemoryVerdict) => number) => ({ plugin: [f(verdicts.plugin)], raw: [f(verdicts.raw)] })
  const count = opts.memoryMessages.toLocaleString('en-US')
  return [{
    id: 'memory-rss-growth',
    title: `memory: RSS growth after warm-up, ${count} messages`,
    unit: 'MB',
    better: 'lower',
    samples: pick((v) => v.rssGrowthMB),
    baseline: 'raw',
    noRatio: true,
    target: 'flat after warm-up',
    met: verdicts.plugin.flat,
    note: `levels off: plugin ${verdicts.plugin.flat ? 'yes' : 'no'}, raw ${verdicts.raw.flat ? 'yes' : 'no'}`,
    series
  }, {
    id: 'memory-heap-growth',
    title: 'memory: heap growth after warm-up (after GC)',
    unit: 'MB',
    better: 'lower',
    samples: pick((v) => v.heapGrowthMB),
    baseline: 'raw',
    noRatio: true,
    note: `heap slope after warm-up: plugin ${verdicts.plugin.heapBytesPerMessage.toFixed(2)} B/msg, raw ${verdicts.raw.heapBytesPerMessage.toFixed(2)} B/msg`
  }, {
    id: 'memory-rss-peak',
    title: 'memory: peak RSS',
    unit: 'MB',
    better: 'lower',
    samples: pick((v) => v.peakRssMB),
    baseline: 'raw'
  }, {
    id: 'memory-flow',
    title: 'memory run: publish → consume rate (info)',
    unit: 'msg/s',
    better: 'higher',
    samples: { plugin: [rates.plugin], raw: [rates.raw] },
    baseline: 'raw'
  }]
}
