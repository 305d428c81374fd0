import os from 'node:os'
import type { Row } from './harness'
import type { BenchOptions } from './options'
import type { CurveFigure } from './curves'
import { median } from './stats'

/** The ratios of one implementation to the baseline, round by round. */
export interface Ratios {
  /** Round i of the implementation over round i of the baseline (NaN where either failed). */
  rounds: number[]
  /** The median of the per-round ratios. */
  median: number
  min: number
  max: number
}

/** A row with its medians, ratios and verdict worked out. */
export interface Figure extends Row {
  medians: Record<string, number>
  /** plugin / baseline: the median of the per-round ratios; absent when meaningless. */
  ratio?: number
  /** The lowest and highest per-round ratio of plugin / baseline. */
  ratioRange?: [number, number]
  /** Every implementation but the baseline, over the baseline, round by round. */
  ratios?: Record<string, Ratios>
  target?: string
  met?: boolean
}

/** The whole run, as written by --json. */
export interface Report {
  date: string
  machine: { node: string, platform: string, cpus: number, cpuModel: string, memoryGB: number, loadAverage: number[] }
  broker: string
  /** The build of the plugin measured (see BENCH_PLUGIN). */
  plugin: string
  /** The versions of the peers measured beside it. */
  peers: Record<string, string>
  options: Omit<BenchOptions, 'url'>
  figures: Figure[]
  curves: CurveFigure[]
}

/** plugin: fastify-warren; raw: amqplib by hand; bare: a route without the broker; plain: fastify-warren without a schema. */
const COLUMNS = ['plugin', 'raw', 'bare', 'plain']

/**
 * The ratio of `values` to `base` round by round (rounds pair by index; a
 * missing, NaN or non-positive baseline gives NaN), and their median, min and
 * max leaving the NaN out. Undefined when no round pairs up.
 */
export function roundRatios (values: number[], base: number[]): Ratios | undefined {
  const n = Math.min(values.length, base.length)
  const rounds = Array.from({ length: n }, (_, i) => (base[i] > 0 && Number.isFinite(values[i]) ? values[i] / base[i] : NaN))
  const valid = rounds.filter((r) => !Number.isNaN(r))
  if (valid.length === 0) return undefined
  return { rounds, median: median(valid), min: Math.min(...valid), max: Math.max(...valid) }
}

/** Per-round ratios of every implementation but the baseline. */
function allRatios (samples: Record<string, number[]>, baseline: string): Record<string, Ratios> | undefined {
  const base = samples[baseline]
  if (!base) return undefined
  const out: Record<string, Ratios> = {}
  for (const [impl, values] of Object.entries(samples)) {
    if (impl === baseline) continue
    const r = roundRatios(values, base)
    if (r) out[impl] = r
  }
  return out
}

export function summarize (row: Row): Figure {
  const medians = Object.fromEntries(Object.entries(row.samples).map(([impl, values]) => [impl, median(values)]))
  const ratios = row.noRatio ? undefined : allRatios(row.samples, row.baseline)
  const plugin = ratios?.plugin
  const ratio = plugin?.median
  const ratioRange: [number, number] | undefined = plugin ? [plugin.min, plugin.max] : undefined
  let { target, met } = row
  if (row.goal?.ratioAtLeast !== undefined) {
    target = `≥ ${row.goal.ratioAtLeast.toFixed(2)}× ${row.baseline}`
    met = ratio !== undefined && ratio >= row.goal.ratioAtLeast
  } else if (row.goal?.ratioAtMost !== undefined) {
    target = `≤ ${row.goal.ratioAtMost.toFixed(2)}× ${row.baseline}`
    met = ratio !== undefined && ratio <= row.goal.ratioAtMost
  } else if (row.goal?.atMost !== undefined) {
    target = `≤ ${row.goal.atMost} ${row.unit}`
    met = medians.plugin <= row.goal.atMost
  }
  return { ...row, medians, ratio, ratioRange, ratios, target, met }
}

/** A ratio with the spread of the rounds: `1.02 (0.98–1.05)`, or just `1.02` when every round agrees to the hundredth. */
export function ratioText (r: { median: number, min: number, max: number }): string {
  const f = (n: number) => n.toFixed(2)
  return f(r.min) === f(r.max) ? f(r.median) : `${f(r.median)} (${f(r.min)}–${f(r.max)})`
}

export function machine (): Report['machine'] {
  const cpus = os.cpus()
  return {
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage: os.loadavg().map((n) => Math.round(n * 100) / 100)
  }
}

/** A value in its unit's precision: rates as integers, milliseconds to the microsecond, microseconds and megabytes to 0.1. */
export function format (value: number | undefined, unit: string): string {
  if (value === undefined) return ''
  if (Number.isNaN(value)) return 'n/a'
  if (unit === 'ms') return value.toFixed(3)
  if (unit === 'µs') return value.toFixed(1)
  if (unit === 'MB') return value.toFixed(1)
  if (unit === 'cores') return value.toFixed(2)
  return Math.round(value).toLocaleString('en-US')
}

function cells (f: Figure): string[] {
  return [
    f.title,
    f.unit,
    ...COLUMNS.map((c) => format(f.medians[c], f.unit)),
    f.ratios?.plugin === undefined ? '' : ratioText(f.ratios.plugin),
    f.target ?? '',
    f.met === undefined ? '' : f.met ? 'yes' : 'NO'
  ]
}

const HEADER = ['scenario', 'unit', ...COLUMNS, 'plugin/base', 'target', 'met']

/** The table for a terminal: aligned columns, numbers to the right. */
export function textTable (figures: Figure[]): string {
  const rows = [HEADER, ...figures.map(cells)]
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  const numeric = (i: number) => i >= 2 && i <= 2 + COLUMNS.length
  const line = (r: string[]) => r.map((c, i) => (numeric(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd()
  const notes = figures.filter((f) => f.note).map((f) => `  ${f.id}: ${f.note}`)
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line), '', ...notes].join('\n')
}

/** The same table in Markdown, for docs/performance.md. */
export function markdownTable (figures: Figure[]): string {
  const align = HEADER.map((_, i) => (i >= 2 && i <= 2 + COLUMNS.length ? '---:' : '---'))
  const line = (r: string[]) => `| ${r.join(' | ')} |`
  return [line(HEADER), line(align), ...figures.map((f) => line(cells(f)))].join('\n')
}
