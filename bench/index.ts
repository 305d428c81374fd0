/*
 * `npm run bench`: every scenario against fastify-warren (a Fastify app with
 * the plugin registered, through app.amqp.*) and a hand-written amqplib
 * equivalent, alternating, several rounds; prints medians and plugin/raw.
 * `npm run bench -- --help` lists the options.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, relative } from 'node:path'
import { chart } from './chart'
import { Admin, PLUGIN_PATH, type Row } from './harness'
import { parseOptions, USAGE, type BenchOptions, type ScenarioName } from './options'
import { machine, markdownTable, summarize, textTable, type Report } from './report'
import { consumeScenario } from './scenarios/consume'
import { contractsScenario } from './scenarios/contracts'
import { telemetryScenario } from './scenarios/telemetry'
import { httpScenario } from './scenarios/http'
import { inMemoryScenario } from './scenarios/in-memory'
import { memoryScenario } from './scenarios/memory'
import { publishScenario } from './scenarios/publish'
import { rpcScenario } from './scenarios/rpc'

type Scenario = (opts: BenchOptions, admin: Admin, log: (msg: string) => void) => Promise<Row[]>

const SCENARIOS: Record<ScenarioName, Scenario> = {
  publish: publishScenario,
  consume: consumeScenario,
  contracts: contractsScenario,
  telemetry: telemetryScenario,
  rpc: rpcScenario,
  http: httpScenario,
  'in-memory': inMemoryScenario,
  memory: memoryScenario
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
        rows.push(...await SCENARIOS[name](opts, admin, log))
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
  const report: Report = { date: new Date().toISOString(), machine: at, broker: admin.server, plugin, options, figures: rows.map(summarize) }
  process.stdout.write(`\n${textTable(report.figures)}\n`)
  if (process.env.BENCH_MARKDOWN) process.stdout.write(`\n${markdownTable(report.figures)}\n`)
  if (opts.json) {
    await writeOut(opts.json, JSON.stringify(report, null, 2) + '\n')
    log(`figures written to ${opts.json}`)
  }
  if (opts.svg) {
    const subtitle = `${report.date.slice(0, 10)}, ${admin.server}, node ${at.node}, ${at.cpus} × ${at.cpuModel}; ${opts.rounds} rounds`
    await writeOut(opts.svg, chart(report.figures, subtitle))
    log(`chart written to ${opts.svg}`)
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
