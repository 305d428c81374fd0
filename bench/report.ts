import os from 'node:os'
import type { Row } from './harness'
import type { BenchOptions } from './options'
import { median } from './stats'

/** A row with its medians, ratio and verdict worked out. */
export interface Figure extends Row {
  medians: Record<string, number>
  /** plugin / baseline, of the medians; absent when meaningless. */
  ratio?: number
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
  options: Omit<BenchOptions, 'url'>
  figures: Figure[]
}

/** plugin: fastify-warren; raw: amqplib by hand; bare: a route without the broker; plain: fastify-warren without a schema. */
const COLUMNS = ['plugin', 'raw', 'bare', 'plain']

export function summarize (row: Row): Figure {
  const medians = Object.fromEntries(Object.entries(row.samples).map(([impl, values]) => [impl, median(values)]))
  const base = medians[row.baseline]
  const ratio = row.noRatio || !(base > 0) ? undefined : medians.plugin / base
  let { target, met } = row
  if (row.goal?.ratioAtLeast !== undefined) {
    target = `≥ ${row.goal.ratioAtLeast.toFixed(2)}× ${row.baseline}`
    met = ratio !== undefined && ratio >= row.goal.ratioAtLeast
  } else if (row.goal?.atMost !== undefined) {
    target = `≤ ${row.goal.atMost} ${row.unit}`
    met = medians.plugin <= row.goal.atMost
  }
  return { ...row, medians, ratio, target, met }
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
  return Math.round(value).toLocaleString('en-US')
}

function cells (f: Figure): string[] {
  return [
    f.title,
    f.unit,
    ...COLUMNS.map((c) => format(f.medians[c], f.unit)),
    f.ratio === undefined ? '' : `${f.ratio.toFixed(2)}`,
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
