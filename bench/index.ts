/*
 * `npm run bench`: every scenario against fastify-warren (a Fastify app with
 * the plugin registered, through app.amqp.*) and a hand-written amqplib
 * equivalent (and the peers, rabbitmq-client and amqp-connection-manager's
 * ChannelWrapper, where they have the feature), rotating the order each
 * round; prints medians, the median of the per-round ratios, the peers table
 * and the curves. `npm run bench -- --help` lists the options.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, relative } from 'node:path'
import { chart } from './chart'
import { curvesChart } from './curves-chart'
import { curvesText, summarizeCurve, type Curve } from './curves'
import { Admin, PLUGIN_PATH, type Row } from './harness'
import { parseOptions, USAGE, type BenchOptions, type ScenarioName } from './options'
import { IMPL_LABELS, IMPLS, PEER_VERSIONS } from './peers'
import { markdownGrid, peersRows, textGrid } from './peers-table'
import { machine, markdownTable, summarize, textTable, type Report } from './report'
import { consumeScenario } from './scenarios/consume'
import { consumersScenario } from './scenarios/consumers'
import { contractsScenario } from './scenarios/contracts'
import { telemetryScenario } from './scenarios/telemetry'
import { httpScenario } from './scenarios/http'
import { inMemoryScenario } from './scenarios/in-memory'
import { memoryScenario } from './scenarios/memory'
import { memoryCostScenario } from './scenarios/memory-cost'
import { publishScenario } from './scenarios/publish'
import { sizeScenario, windowScenario } from './scenarios/publish-curves'
import { rpcScenario } from './scenarios/rpc'

/** What a scenario measures: figures for the table, and curves for some. */
type Output = Row[] | { rows: Row[], curves: Curve[] }
type Scenario = (opts: BenchOptions, admin: Admin, log: (msg: string) => void) => Promise<Output>

const SCENARIOS: Record<ScenarioName, Scenario> = {
  publish: publishScenario,
  consume: consumeScenario,
  contracts: contractsScenario,
  telemetry: telemetryScenario,
  rpc: rpcScenario,
  http: httpScenario,
  'in-memory': inMemoryScenario,
  memory: memoryScenario,
  'curve-size': sizeScenario,
  'curve-window': windowScenario,
  'curve-consumers': consumersScenario,
  'memory-cost': memoryCostScenario
}

/** The SVG of the curves, beside the main chart: docs/performance.svg → docs/performance-curves.svg. */
export function curvesPath (svg: string): string {
  return svg.endsWith('.svg') ? `${svg.slice(0, -4)}-curves.svg` : `${svg}-curves.svg`
}

const log = (msg: string): void => { process.stderr.write(msg + '\n') }

async function writeOut (file: string, content: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, content)
}

/** Runs the bench; resolves with the report (also printed and written as asked). */
export async function bench (opts: BenchOptions): Promise<Report> {
  const admin = await Admin.open(opts.url)
  const onSignal = () => { admin.close().finally(() => process.exit(130)) }
  process.once('SIGINT', onSignal)
  const rows: Row[] = []
  const curves: Curve[] = []
  const failures: string[] = []
  const at = machine()
  const plugin = relative(process.cwd(), PLUGIN_PATH)
  log(`fastify-warren bench: plugin ${plugin}, ${admin.server}, node ${at.node}, ${at.cpus} × ${at.cpuModel}, load ${at.loadAverage.join(' ')}${opts.quick ? ' (quick: tiny counts)' : ''}`)
  if (!(globalThis as { gc?: unknown }).gc) log('(run with --expose-gc, as npm run bench does, to collect garbage between runs)')
  try {
    for (const name of opts.only) {
      log(`${name}:`)
      const started = Date.now()
      try {
        const out = await SCENARIOS[name](opts, admin, log)
        if (Array.isArray(out)) rows.push(...out)
        else {
          rows.push(...out.rows)
          curves.push(...out.curves)
        }
      } catch (err) {
        failures.push(`${name}: ${(err as Error).stack ?? String(err)}`)
        log(`  ${name} failed: ${(err as Error).stack ?? String(err)}`)
      }
      log(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`)
    }
  } finally {
    await admin.close()
    process.removeListener('SIGINT', onSignal)
  }
  const { url: _url, ...options } = opts
  const report: Report = {
    date: new Date().toISOString(),
    machine: at,
    broker: admin.server,
    plugin,
    peers: PEER_VERSIONS,
    options,
    figures: rows.map(summarize),
    curves: curves.map(summarizeCurve)
  }
  process.stdout.write(`\n${textTable(report.figures)}\n`)
  const peers = peersRows(report.figures, IMPLS, IMPL_LABELS)
  if (peers) process.stdout.write(`\nPeers (median of the per-round ratios to raw amqplib, min–max of the rounds in brackets):\n${textGrid(peers)}\n`)
  if (report.curves.length > 0) process.stdout.write(`\nCurves (medians; plugin/raw: median of the per-round ratios, min–max):\n\n${curvesText(report.curves)}`)
  if (process.env.BENCH_MARKDOWN) {
    process.stdout.write(`\n${markdownTable(report.figures)}\n`)
    if (peers) process.stdout.write(`\n${markdownGrid(peers)}\n`)
  }
  if (opts.json) {
    await writeOut(opts.json, JSON.stringify(report, null, 2) + '\n')
    log(`figures written to ${opts.json}`)
  }
  if (opts.svg) {
    const subtitle = `${report.date.slice(0, 10)}, ${admin.server}, node ${at.node}, ${at.cpus} × ${at.cpuModel}; ${opts.rounds} rounds`
    await writeOut(opts.svg, chart(report.figures, subtitle))
    log(`chart written to ${opts.svg}`)
    if (report.curves.length > 0) {
      const file = curvesPath(opts.svg)
      await writeOut(file, curvesChart(report.curves, subtitle.replace(`${opts.rounds} rounds`, `${opts.curveRounds} rounds per point`)))
      log(`curves written to ${file}`)
    }
  }
  if (failures.length > 0) throw new Error(`${failures.length} scenario(s) failed:\n${failures.join('\n')}`)
  return report
}

if (require.main === module) {
  let opts: BenchOptions | undefined
  try {
    opts = parseOptions(process.argv.slice(2))
  } catch (err) {
    log(`${(err as Error).message}\n\n${USAGE}`)
    process.exit(2)
  }
  if (!opts) {
    log(USAGE)
  } else {
    bench(opts).then(() => process.exit(0), (err: Error) => {
      log(err.message)
      process.exit(1)
    })
  }
}
