/*
 * A tiny OTLP/HTTP receiver (JSON encoding) that prints each trace as a tree
 * once no span has arrived for it for a moment. Only traces with a messaging
 * span are shown: the launcher's health checks are traces too.
 */
import { createServer, type Server } from 'node:http'

interface OtlpValue { stringValue?: string, intValue?: string | number, boolValue?: boolean, doubleValue?: number }
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  startTimeUnixNano: string | number
  endTimeUnixNano: string | number
  attributes?: Array<{ key: string, value: OtlpValue }>
  status?: { code?: number }
}
interface OtlpRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<{ key: string, value: OtlpValue }> }
    scopeSpans?: Array<{ spans?: OtlpSpan[] }>
  }>
}

/** A span as printed. */
interface Node {
  span: OtlpSpan
  service: string
  attributes: Record<string, unknown>
  children: Node[]
}

const KINDS = ['', 'internal', 'server', 'client', 'producer', 'consumer']
/** How long a trace must be quiet before it is printed. */
const QUIET_MS = 1500

function valueOf (v: OtlpValue): unknown {
  return v.stringValue ?? v.boolValue ?? v.doubleValue ?? (v.intValue === undefined ? undefined : Number(v.intValue))
}

function attributesOf (list: Array<{ key: string, value: OtlpValue }> = []): Record<string, unknown> {
  return Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]))
}

function describe (node: Node): string {
  const ms = (Number(BigInt(node.span.endTimeUnixNano) - BigInt(node.span.startTimeUnixNano)) / 1e6).toFixed(1)
  const a = node.attributes
  const details = [
    a['messaging.message.id'] === undefined ? undefined : `message ${String(a['messaging.message.id'])}`,
    a['fastify_warren.outcome'] === undefined ? undefined : `→ ${String(a['fastify_warren.outcome'])}`,
    a['error.type'] === undefined ? undefined : `error ${String(a['error.type'])}`
  ].filter(Boolean).join(', ')
  return `${node.span.name}  [${node.service}, ${KINDS[node.span.kind] ?? node.span.kind}, ${ms} ms]${details === '' ? '' : `  ${details}`}`
}

function print (traceId: string, nodes: Node[]): void {
  const byId = new Map(nodes.map((n) => [n.span.spanId, n]))
  const roots: Node[] = []
  for (const node of nodes) {
    const parent = node.span.parentSpanId === undefined ? undefined : byId.get(node.span.parentSpanId)
    if (parent === undefined) roots.push(node)
    else parent.children.push(node)
  }
  const start = (n: Node): bigint => BigInt(n.span.startTimeUnixNano)
  const lines: string[] = []
  const walk = (node: Node, prefix: string, last: boolean, top: boolean): void => {
    lines.push(top ? describe(node) : `${prefix}${last ? '└─ ' : '├─ '}${describe(node)}`)
    const children = node.children.sort((a, b) => (start(a) < start(b) ? -1 : 1))
    const inner = top ? '' : prefix + (last ? '   ' : '│  ')
    children.forEach((child, i) => walk(child, inner, i === children.length - 1, false))
  }
  for (const root of roots.sort((a, b) => (start(a) < start(b) ? -1 : 1))) walk(root, '', true, true)
  const services = [...new Set(nodes.map((n) => n.service))].join(', ')
  console.log(`\ntrace ${traceId}: ${nodes.length} spans across ${services}\n${lines.map((l) => `  ${l}`).join('\n')}\n`)
}

/** Starts the receiver on a free port of 127.0.0.1; resolves with its OTLP endpoint. */
export async function startTracePrinter (): Promise<{ endpoint: string, server: Server }> {
  const traces = new Map<string, { nodes: Node[], timer: NodeJS.Timeout }>()
  const receive = (body: OtlpRequest): void => {
    for (const rs of body.resourceSpans ?? []) {
      const service = String(attributesOf(rs.resource?.attributes)['service.name'] ?? 'unknown')
      for (const ss of rs.scopeSpans ?? []) {
        for (const span of ss.spans ?? []) {
          let entry = traces.get(span.traceId)
          if (entry === undefined) {
            entry = { nodes: [], timer: setTimeout(() => {}, 0) }
            traces.set(span.traceId, entry)
          }
          entry.nodes.push({ span, service, attributes: attributesOf(span.attributes), children: [] })
          clearTimeout(entry.timer)
          const { nodes } = entry
          entry.timer = setTimeout(() => {
            traces.delete(span.traceId)
            if (nodes.some((n) => n.attributes['messaging.system'] !== undefined)) print(span.traceId, nodes)
          }, QUIET_MS)
        }
      }
    }
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).includes('json')) {
        res.writeHead(415).end()
        return
      }
      try {
        receive(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpRequest)
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      } catch (err) {
        console.error('trace printer: an export it could not read', err)
        res.writeHead(400).end()
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('the trace printer has no port')
  server.unref()
  return { endpoint: `http://127.0.0.1:${address.port}`, server }
}
