import type { MemorySample } from './memory-child'
import { format, type Figure } from './report'

/*
 * The chart, as a hand-written SVG (no plotting dependency): one group of
 * horizontal bars per figure, plugin against its baseline (and the bare HTTP
 * route), each group scaled to its largest value; then, when the memory
 * scenario ran, RSS and heap over the messages for plugin and raw.
 */

const COLORS: Record<string, string> = { plugin: '#2b6cb0', raw: '#8a94a6', bare: '#d69e2e' }
const WIDTH = 900
const LABEL = 330
const BAR_MAX = 400
const BAR = 16

function esc (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function text (x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(content)}</text>`
}

function bars (figures: Figure[], top: number): { svg: string[], height: number } {
  const svg: string[] = []
  let y = top
  for (const f of figures) {
    const impls = ['plugin', 'raw', 'bare'].filter((i) => f.medians[i] !== undefined)
    const max = Math.max(0, ...impls.map((i) => f.medians[i]).filter((v) => !Number.isNaN(v)))
    const verdict = f.met === undefined ? '' : f.met ? '  ✓ target met' : '  ✗ target missed'
    const ratio = f.ratio === undefined ? '' : `  plugin/${f.baseline} ${f.ratio.toFixed(2)}`
    svg.push(text(10, y + 12, f.title, 'font-weight="bold"'))
    svg.push(text(WIDTH - 10, y + 12, `${f.unit}${f.better === 'lower' ? ', lower is better' : ''}${ratio}${verdict}`, 'fill="#444" text-anchor="end"'))
    y += 20
    for (const impl of impls) {
      const w = max > 0 && !Number.isNaN(f.medians[impl]) ? Math.max(1, (f.medians[impl] / max) * BAR_MAX) : 1
      svg.push(text(LABEL - 8, y + 12, impl, 'text-anchor="end"'))
      svg.push(`<rect x="${LABEL}" y="${y}" width="${w.toFixed(1)}" height="${BAR}" fill="${COLORS[impl]}"/>`)
      svg.push(text(LABEL + w + 6, y + 12, format(f.medians[impl], f.unit)))
      y += BAR + 4
    }
    y += 14
  }
  return { svg, height: y - top }
}

function memoryPanel (series: Record<string, MemorySample[]>, top: number): { svg: string[], height: number } {
  const all = Object.values(series).flat()
  const total = Math.max(...all.map((s) => s.messages))
  const maxMB = Math.ceil((Math.max(...all.map((s) => s.rssMB)) * 1.25) / 20) * 20
  const x0 = 60
  const w = WIDTH - x0 - 40
  const h = 200
  const y0 = top + 40
  const px = (m: number) => x0 + (m / total) * w
  const py = (mb: number) => y0 + h - (mb / maxMB) * h
  const svg: string[] = [
    text(10, top + 12, `memory while ${total.toLocaleString('en-US')} messages flow publish → consume (MB; solid RSS, dashed heap after GC; shaded: warm-up)`, 'font-weight="bold"'),
    `<rect x="${x0}" y="${y0}" width="${(0.2 * w).toFixed(1)}" height="${h}" fill="#f0f0f0"/>`,
    `<line x1="${x0}" y1="${y0 + h}" x2="${x0 + w}" y2="${y0 + h}" stroke="#999"/>`,
    `<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y0 + h}" stroke="#999"/>`
  ]
  for (let mb = 0; mb <= maxMB; mb += maxMB / 4) {
    svg.push(text(x0 - 6, py(mb) + 4, String(Math.round(mb)), 'text-anchor="end" fill="#666"'))
  }
  for (let i = 0; i <= 4; i++) {
    svg.push(text(px((total * i) / 4), y0 + h + 16, Math.round((total * i) / 4).toLocaleString('en-US'), 'text-anchor="middle" fill="#666"'))
  }
  let legend = x0 + 10
  for (const [impl, samples] of Object.entries(series)) {
    const color = COLORS[impl] ?? '#000'
    const path = (f: (s: MemorySample) => number) => samples.map((s, i) => `${i === 0 ? 'M' : 'L'}${px(s.messages).toFixed(1)},${py(f(s)).toFixed(1)}`).join(' ')
    svg.push(`<path d="${path((s) => s.rssMB)}" fill="none" stroke="${color}" stroke-width="2"/>`)
    svg.push(`<path d="${path((s) => s.heapMB)}" fill="none" stroke="${color}" stroke-width="1.5" stroke-dasharray="5,3"/>`)
    svg.push(`<rect x="${legend}" y="${top + 18}" width="12" height="12" fill="${color}"/>`, text(legend + 16, top + 28, impl))
    legend += 90
  }
  return { svg, height: h + 70 }
}

/** The whole chart for a run. */
export function chart (figures: Figure[], subtitle: string): string {
  // The figures with a target, and the p99 beside the p50; the memory series is drawn below.
  const shown = figures.filter((f) => (f.met !== undefined && !f.id.startsWith('memory')) || f.id === 'rpc-p99')
  const parts: string[] = [
    text(10, 22, 'fastify-warren vs raw amqplib (medians)', 'font-size="16" font-weight="bold"'),
    text(10, 40, subtitle, 'fill="#444"')
  ]
  const barPart = bars(shown, 56)
  parts.push(...barPart.svg)
  let height = 56 + barPart.height
  const memory = figures.find((f) => f.id === 'memory-rss-growth')
  if (memory?.series) {
    const panel = memoryPanel(memory.series as Record<string, MemorySample[]>, height)
    parts.push(...panel.svg)
    height += panel.height
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    ''
  ].join('\n')
}
