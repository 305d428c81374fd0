/*
 * How a cost grows: a curve is one metric measured at several points (message
 * sizes, windows, numbers of worker processes) for the plugin and raw
 * amqplib, several rounds at each point, alternating. Written to the JSON,
 * printed as tables and drawn by bench/curves-chart.ts.
 */
import { format, ratioText, roundRatios, type Ratios } from './report'
import { median } from './stats'

export interface CurvePoint {
  /** Where on the x axis (the points are drawn evenly spaced, in this order). */
  x: number
  /** How the axis names it: '4 KB', '10 in flight', '2 workers'. */
  label: string
  /** Implementation → the value of each round at this point. */
  samples: Record<string, number[]>
  /** Anything more measured at this point, kept in the JSON (per-worker figures, the verdict). */
  detail?: unknown
}

export interface Curve {
  /** Stable key for JSON tracking: 'size-rate', 'consumers-broker-cores'... */
  id: string
  title: string
  /** What the x axis is: 'message size (JSON body)'. */
  xTitle: string
  unit: string
  better: 'higher' | 'lower'
  /** The implementation the others are divided by. */
  baseline: string
  /** The ratio means nothing here (a shared resource such as the broker's CPU). */
  noRatio?: boolean
  /** Draw the y axis on a log scale (values over orders of magnitude). */
  logY?: boolean
  points: CurvePoint[]
  note?: string
}

export interface CurveFigure extends Curve {
  points: Array<CurvePoint & { medians: Record<string, number>, ratios?: Record<string, Ratios> }>
}

/** Medians and per-round ratios (to the baseline) at each point. */
export function summarizeCurve (curve: Curve): CurveFigure {
  return {
    ...curve,
    points: curve.points.map((p) => {
      const medians = Object.fromEntries(Object.entries(p.samples).map(([impl, values]) => [impl, median(values)]))
      if (curve.noRatio || !p.samples[curve.baseline]) return { ...p, medians }
      const ratios: Record<string, Ratios> = {}
      for (const [impl, values] of Object.entries(p.samples)) {
        if (impl === curve.baseline) continue
        const r = roundRatios(values, p.samples[curve.baseline])
        if (r) ratios[impl] = r
      }
      return { ...p, medians, ratios }
    })
  }
}

/** The implementations a curve has, plugin first, the baseline second. */
export function curveImpls (curve: Curve): string[] {
  const all = [...new Set(curve.points.flatMap((p) => Object.keys(p.samples)))]
  const rank = (impl: string) => (impl === 'plugin' ? 0 : impl === curve.baseline ? 1 : 2)
  return all.sort((a, b) => rank(a) - rank(b))
}

/** One table per curve: a line per point, a column per implementation, then plugin / baseline. */
export function curvesText (curves: CurveFigure[]): string {
  const out: string[] = []
  for (const c of curves) {
    const impls = curveImpls(c)
    const showRatio = !c.noRatio && impls.includes('plugin') && impls.includes(c.baseline)
    const header = [c.xTitle, ...impls.map((i) => `${i} (${c.unit})`), ...(showRatio ? [`plugin/${c.baseline}`] : [])]
    const rows = c.points.map((p) => [
      p.label,
      ...impls.map((i) => format(p.medians[i], c.unit)),
      ...(showRatio ? [p.ratios?.plugin ? ratioText(p.ratios.plugin) : 'n/a'] : [])
    ])
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
    const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')
    out.push(`${c.title}${c.better === 'lower' ? ' (lower is better)' : ''}`, line(header), ...rows.map(line))
    if (c.note) out.push(`  ${c.note}`)
    out.push('')
  }
  return out.join('\n')
}

/** A size in bytes as the axis names it: 100 B, 4 KB, 64 KB, 1 MB. */
export function sizeLabel (bytes: number): string {
  if (bytes >= 2 ** 20 && bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20} MB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KB`
  return `${bytes} B`
}

/** A JSON body of exactly `bytes` bytes once encoded: an id and a padding string. */
export function bodyOfSize (bytes: number): { id: number, pad: string } {
  const bare = JSON.stringify({ id: 42, pad: '' }).length
  if (bytes < bare) throw new Error(`a body of ${bytes} bytes is smaller than ${bare}`)
  return { id: 42, pad: 'x'.repeat(bytes - bare) }
}

/**
 * Messages per round at a size: `messages` at 100 B, then as many as fit in
 * `messages` × 10 KB (100 MB by default: 10,000 of 4 KB, 1,562 of 64 KB, 97
 * of 1 MB), at least 10.
 */
export function messagesAtSize (messages: number, bytes: number): number {
  return Math.max(10, Math.min(messages, Math.floor((messages * 10 * 1024) / bytes)))
}

/** Messages per round at a window: a tenth at 1 in flight, a quarter at 10, all of them from 100 on (rounds of about a second here). */
export function messagesAtWindow (messages: number, window: number): number {
  return Math.max(100, Math.round(messages * (window >= 100 ? 1 : window >= 10 ? 0.25 : 0.1)))
}
