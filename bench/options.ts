import { parseArgs } from 'node:util'

/** Every scenario, in the order they run. */
export const SCENARIOS = ['publish', 'consume', 'contracts', 'telemetry', 'in-memory', 'rpc', 'http', 'memory', 'curve-size', 'curve-window', 'curve-consumers', 'memory-cost'] as const
export type ScenarioName = typeof SCENARIOS[number]

/** What one run of the bench does; every count can be set from the command line. */
export interface BenchOptions {
  url: string
  /** Timed rounds per scenario; the implementations alternate within each round. */
  rounds: number
  /** Messages per round in the publish and consume scenarios. */
  messages: number
  /** Publishes in flight at once in the publish scenario. */
  window: number
  /** Consumer prefetch in the consume and RPC scenarios. */
  prefetch: number
  /** Requests per round for RPC throughput. */
  rpcRequests: number
  /** Requests in flight for RPC throughput. */
  rpcConcurrency: number
  /** Sequential requests per round for RPC latency. */
  latencyRequests: number
  /** Seconds of load per HTTP round and route. */
  httpSeconds: number
  /** autocannon connections. */
  httpConnections: number
  /** Messages through publish→consume in the memory scenario, per implementation. */
  memoryMessages: number
  /** Timed rounds at each point of a curve (size, window, consumers, memory-cost). */
  curveRounds: number
  /** Messages per round at the smallest point of the size and window curves (fewer at the larger sizes and smaller windows). */
  curveMessages: number
  /** Messages per round at each point of the consumers curve. */
  workerMessages: number
  /** Messages held at once (buffered offline, or awaiting confirms) in the memory-cost scenario. */
  costMessages: number
  only: ScenarioName[]
  /** Where to write the figures as JSON, if anywhere. */
  json: string | undefined
  /** Where to write the chart, if anywhere. */
  svg: string | undefined
  quick: boolean
}

const FULL = {
  rounds: 5,
  messages: 50_000,
  window: 1000,
  prefetch: 100,
  rpcRequests: 20_000,
  rpcConcurrency: 100,
  latencyRequests: 5000,
  httpSeconds: 5,
  httpConnections: 50,
  memoryMessages: 1_000_000,
  curveRounds: 3,
  curveMessages: 10_000,
  workerMessages: 20_000,
  costMessages: 10_000
}

/** Tiny counts: checks every scenario works in seconds; the figures mean little. */
const QUICK: typeof FULL = {
  rounds: 2,
  messages: 2000,
  window: 200,
  prefetch: 100,
  rpcRequests: 1000,
  rpcConcurrency: 100,
  latencyRequests: 200,
  httpSeconds: 1,
  httpConnections: 20,
  memoryMessages: 20_000,
  curveRounds: 1,
  curveMessages: 1000,
  workerMessages: 2000,
  costMessages: 1000
}

export const DEFAULT_SVG = 'docs/performance.svg'
export const DEFAULT_JSON = 'bench/results.json'

export const USAGE = `Usage: npm run bench -- [options]

Runs each scenario against fastify-warren (app.amqp.*) and a hand-written
amqplib equivalent (and, in publish, consume and rpc, rabbitmq-client and
amqp-connection-manager's ChannelWrapper), rotating their order each round,
and prints the medians, the median of the per-round ratios to raw, the peers
table and the curves (curve-size, curve-window, curve-consumers, memory-cost).

  --quick                  tiny counts (a smoke run; the figures mean little)
  --rounds N               timed rounds per scenario            (${FULL.rounds}; quick ${QUICK.rounds})
  --messages N             messages per publish/consume round   (${FULL.messages}; quick ${QUICK.messages})
  --window N               publishes in flight                  (${FULL.window}; quick ${QUICK.window})
  --prefetch N             consumer prefetch                    (${FULL.prefetch})
  --rpc-requests N         requests per RPC throughput round    (${FULL.rpcRequests}; quick ${QUICK.rpcRequests})
  --rpc-concurrency N      requests in flight for throughput    (${FULL.rpcConcurrency})
  --latency-requests N     sequential requests per latency round (${FULL.latencyRequests}; quick ${QUICK.latencyRequests})
  --http-seconds N         seconds of load per HTTP round/route (${FULL.httpSeconds}; quick ${QUICK.httpSeconds})
  --http-connections N     autocannon connections               (${FULL.httpConnections}; quick ${QUICK.httpConnections})
  --memory-messages N      messages in the memory scenario      (${FULL.memoryMessages}; quick ${QUICK.memoryMessages})
  --curve-rounds N         timed rounds per point of a curve    (${FULL.curveRounds}; quick ${QUICK.curveRounds})
  --curve-messages N       messages per size/window round       (${FULL.curveMessages}; quick ${QUICK.curveMessages})
  --worker-messages N      messages per consumers-curve round   (${FULL.workerMessages}; quick ${QUICK.workerMessages})
  --cost-messages N        messages held in memory-cost         (${FULL.costMessages}; quick ${QUICK.costMessages})
  --only a,b               run only these scenarios: ${SCENARIOS.join(', ')}
  --json [FILE]            write the figures as JSON            (FILE: ${DEFAULT_JSON})
  --svg FILE               write the chart there                (default ${DEFAULT_SVG}; none with --quick);
                           the curves go beside it, FILE-curves.svg
  --no-svg                 write no chart
  --help

The broker is AMQP_URL (default amqp://guest:guest@127.0.0.1:5672).`

function count (name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback
  const n = Number(value.replace(/_/g, ''))
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} expects an integer ≥ ${min}, got "${value}"`)
  return n
}

/** Parses the command line; throws with a readable message on a bad value. Returns undefined for --help. */
export function parseOptions (argv: string[]): BenchOptions | undefined {
  // `--json` may stand alone or take a file: give the bare flag its default file.
  const args = argv.flatMap((a, i) => a === '--json' && (argv[i + 1] === undefined || argv[i + 1].startsWith('--')) ? [`--json=${DEFAULT_JSON}`] : [a])
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      help: { type: 'boolean' },
      quick: { type: 'boolean' },
      rounds: { type: 'string' },
      messages: { type: 'string' },
      window: { type: 'string' },
      prefetch: { type: 'string' },
      'rpc-requests': { type: 'string' },
      'rpc-concurrency': { type: 'string' },
      'latency-requests': { type: 'string' },
      'http-seconds': { type: 'string' },
      'http-connections': { type: 'string' },
      'memory-messages': { type: 'string' },
      'curve-rounds': { type: 'string' },
      'curve-messages': { type: 'string' },
      'worker-messages': { type: 'string' },
      'cost-messages': { type: 'string' },
      only: { type: 'string' },
      json: { type: 'string' },
      svg: { type: 'string' },
      'no-svg': { type: 'boolean' }
    }
  })
  if (values.help) return undefined
  const quick = values.quick === true
  const d = quick ? QUICK : FULL
  const only = values.only === undefined ? [...SCENARIOS] : values.only.split(',').map((s) => s.trim())
  for (const name of only) {
    if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`--only: unknown scenario "${name}" (known: ${SCENARIOS.join(', ')})`)
  }
  const prefetch = count('prefetch', values.prefetch, d.prefetch)
  if (prefetch > 65535) throw new Error('--prefetch must be at most 65535')
  return {
    url: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    rounds: count('rounds', values.rounds, d.rounds),
    messages: count('messages', values.messages, d.messages),
    window: count('window', values.window, d.window),
    prefetch,
    rpcRequests: count('rpc-requests', values['rpc-requests'], d.rpcRequests),
    rpcConcurrency: count('rpc-concurrency', values['rpc-concurrency'], d.rpcConcurrency),
    latencyRequests: count('latency-requests', values['latency-requests'], d.latencyRequests, 10),
    httpSeconds: count('http-seconds', values['http-seconds'], d.httpSeconds),
    httpConnections: count('http-connections', values['http-connections'], d.httpConnections),
    memoryMessages: count('memory-messages', values['memory-messages'], d.memoryMessages, 1000),
    curveRounds: count('curve-rounds', values['curve-rounds'], d.curveRounds),
    curveMessages: count('curve-messages', values['curve-messages'], d.curveMessages, 100),
    workerMessages: count('worker-messages', values['worker-messages'], d.workerMessages, 100),
    costMessages: count('cost-messages', values['cost-messages'], d.costMessages, 100),
    only: only as ScenarioName[],
    json: values.json,
    svg: values['no-svg'] ? undefined : values.svg ?? (quick ? undefined : DEFAULT_SVG),
    quick
  }
}
