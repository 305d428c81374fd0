import { curveImpls, type CurveFigure } from './curves'
import { format } from './report'

/*
 * The curves as hand-written SVG line charts (no plotting dependency), two
 * to a row: one line per implementation through the medians at each point,
 * the points evenly spaced in the order measured, the y axis from zero; under
 * each plugin point, the median of its per-round ratios to the baseline. A
 * curve whose values span orders of magnitude (message size) has a log y axis.
 */

const COLORS: Record<string, string> = { plugin: '#2b6cb0', raw: '#8a94a6' }
const EXTRA = ['#d69e2e', '#38a169', '#c53030']
const WIDTH = 900
const PANEL_W = 435
const PANEL_H = 250
const PAD = { left: 62, right: 30, top: 46, bottom: 46 }

function esc (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function text (x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(content)}</text>`
}

/** A round upper bound for an axis: 1, 2 or 5 times a power of ten, at least `max`. */
export function niceMax (max: number): number {
  if (!(max > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(max))
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p
  return 10 * p
}

function panel (c: CurveFigure, x0: number, y0: number): string[] {
  const impls = curveImpls(c)
  const color = (impl: string, i: number) => COLORS[impl] ?? EXTRA[i % EXTRA.length]
  const values = c.points.flatMap((p) => impls.map((i) => p.medians[i])).filter((v) => Number.isFinite(v) && (!c.logY || v > 0))
  const w = PANEL_W - PAD.left - PAD.right
  const h = PANEL_H - PAD.top - PAD.bottom
  const n = c.points.length
  const px = (k: number) => x0 + PAD.left + (n === 1 ? w / 2 : (k / (n - 1)) * w)
  // Linear from zero, or (logY) from the power of ten below the smallest value to the one above the largest.
  const lo = c.logY ? 10 ** Math.floor(Math.log10(Math.min(...values, 1e300))) : 0
  const top = c.logY ? 10 ** Math.ceil(Math.log10(Math.max(...values, lo * 10))) : niceMax(Math.max(0, ...values) * 1.05)
  const py = c.logY
    ? (v: number) => y0 + PAD.top + h - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(top) - Math.log10(lo))) * h
    : (v: number) => y0 + PAD.top + h - (v / top) * h
  const ticks = c.logY
    ? Array.from({ length: Math.round(Math.log10(top / lo)) + 1 }, (_, k) => lo * 10 ** k)
    : [0, 1, 2, 3, 4].map((k) => (top * k) / 4)
  const svg: string[] = [
    text(x0 + 4, y0 + 14, c.title, 'font-weight="bold"'),
    text(x0 + 4, y0 + 30, `${c.unit}${c.logY ? ', log scale' : ''}${c.better === 'lower' ? ', lower is better' : ''}`, 'fill="#444"'),
    `<line x1="${x0 + PAD.left}" y1="${py(lo)}" x2="${x0 + PAD.left + w}" y2="${py(lo)}" stroke="#999"/>`,
    `<line x1="${x0 + PAD.left}" y1="${py(top)}" x2="${x0 + PAD.left}" y2="${py(lo)}" stroke="#999"/>`
  ]
  for (const v of ticks) {
    svg.push(text(x0 + PAD.left - 6, py(v) + 4, format(v, c.unit), 'text-anchor="end" fill="#666"'))
    if (v > lo) svg.push(`<line x1="${x0 + PAD.left}" y1="${py(v)}" x2="${x0 + PAD.left + w}" y2="${py(v)}" stroke="#eee"/>`)
  }
  c.points.forEach((p, k) => {
    svg.push(text(px(k), py(lo) + 16, p.label, 'text-anchor="middle" fill="#666"'))
    const r = p.ratios?.plugin
    if (r) svg.push(text(px(k), py(lo) + 30, `×${r.median.toFixed(2)}`, `text-anchor="middle" fill="${COLORS.plugin}"`))
  })
  svg.push(text(x0 + PAD.left + w, py(lo) + 44, c.xTitle, 'text-anchor="end" fill="#444"'))
  impls.forEach((impl, i) => {
    const pts = c.points.map((p, k) => ({ k, v: p.medians[impl] })).filter((q) => Number.isFinite(q.v))
    if (pts.length === 0) return
    const d = pts.map((q, j) => `${j === 0 ? 'M' : 'L'}${px(q.k).toFixed(1)},${py(q.v).toFixed(1)}`).join(' ')
    svg.push(`<path d="${d}" fill="none" stroke="${color(impl, i)}" stroke-width="2"/>`)
    for (const q of pts) svg.push(`<circle cx="${px(q.k).toFixed(1)}" cy="${py(q.v).toFixed(1)}" r="3" fill="${color(impl, i)}"/>`)
    // The legend on the unit's line, right-aligned.
    const lx = x0 + PAD.left + w - (impls.length - i) * 70
    const ly = y0 + 30
    svg.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${color(impl, i)}"/>`, text(lx + 14, ly, impl))
  })
  return svg
}

/** The chart of every curve of a run. */
export function curvesChart (curves: CurveFigure[], subtitle: string): string {
  const parts: string[] = [
    text(10, 22, 'fastify-warren vs raw amqplib: how the cost grows (medians)', 'font-size="16" font-weight="bold"'),
    text(10, 40, subtitle, 'fill="#444"')
  ]
  curves.forEach((c, i) => parts.push(...panel(c, 10 + (i % 2) * (PANEL_W + 10), 56 + Math.floor(i / 2) * (PANEL_H + 10))))
  const height = 56 + Math.ceil(curves.length / 2) * (PANEL_H + 10)
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    ''
  ].join('\n')
}
