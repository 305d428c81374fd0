/*
 * The peers table: one line per client (raw amqplib, the plugin,
 * rabbitmq-client, amqp-connection-manager's ChannelWrapper), one column per
 * figure, each cell the median of the per-round ratios to raw amqplib with
 * their range; raw's own line gives its median in its unit. "n/a" where a
 * client lacks the feature.
 */
import type { Figure } from './report'
import { format, ratioText } from './report'

/** The columns, each a figure of the publish, consume or rpc scenario. */
export const PEER_COLUMNS: ReadonlyArray<{ id: string, title: string }> = [
  { id: 'publish', title: 'publish ×raw' },
  { id: 'publish-cpu', title: 'publish CPU/msg ×raw' },
  { id: 'consume-cpu', title: 'consume CPU/msg ×raw' },
  { id: 'rpc-throughput', title: 'RPC ×raw' },
  { id: 'rpc-client-cpu', title: 'RPC client CPU ×raw' },
  { id: 'rpc-server-cpu', title: 'RPC server CPU ×raw' },
  { id: 'rpc-p50', title: 'p50 ×raw' }
]

/** The cell of one client in one figure. */
export function peerCell (f: Figure, impl: string): string {
  const values = f.samples[impl]
  if (!values || values.length === 0) return 'n/a'
  if (impl === f.baseline) return `1.00 (${format(f.medians[impl], f.unit)} ${f.unit})`
  const r = f.ratios?.[impl]
  return r ? ratioText(r) : 'n/a'
}

/**
 * The table as rows of cells, header first; only the columns whose figure
 * was measured. Undefined when no peer (an implementation besides the plugin
 * and the baseline) was measured at all.
 */
export function peersRows (figures: Figure[], impls: readonly string[], labels: Record<string, string>): string[][] | undefined {
  const byId = new Map(figures.map((f) => [f.id, f]))
  const columns = PEER_COLUMNS.filter((c) => byId.has(c.id))
  const measured = columns.some((c) => Object.keys(byId.get(c.id)!.samples).some((impl) => impl !== 'plugin' && impl !== byId.get(c.id)!.baseline && impls.includes(impl)))
  if (!measured) return undefined
  return [
    ['client', ...columns.map((c) => c.title)],
    ...impls.map((impl) => [labels[impl] ?? impl, ...columns.map((c) => peerCell(byId.get(c.id)!, impl))])
  ]
}

/** Aligned columns for a terminal: the client to the left, the figures to the right. */
export function textGrid (rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd()
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')
}

/** The same as a Markdown table, for docs/performance.md and the issue. */
export function markdownGrid (rows: string[][]): string {
  const line = (r: string[]) => `| ${r.join(' | ')} |`
  return [line(rows[0]), line(rows[0].map(() => '---')), ...rows.slice(1).map(line)].join('\n')
}
