import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib'
import type { FastifyInstance } from 'fastify'
import type { Connection, RPCClient } from 'rabbitmq-client'
import { startWorker, type Worker } from '../child'
import { Admin, alternate, MESSAGE, pick, pluginApp, rawConnect, timed, windowed, type Row } from '../harness'
import type { BenchOptions } from '../options'
import { rabbitConnect } from '../peers'
import type { RpcServerConfig } from '../rpc-server'
import { now, percentile, perSecond } from '../stats'

const REPLY_TO = 'amq.rabbitmq.reply-to'
const TIMEOUT = 5000

/**
 * A straightforward amqplib RPC client, as one would write it by hand: direct
 * reply-to, a map of pending requests and a timeout for each. Its server is
 * in bench/rpc-server.ts.
 */
export class RawRpcClient {
  private readonly pending = new Map<string, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()

  private constructor (private readonly ch: Channel, private readonly exchange: string, private readonly key: string) {}

  static async start (conn: ChannelModel, exchange: string, key: string): Promise<RawRpcClient> {
    const ch = await conn.createChannel()
    const rpc = new RawRpcClient(ch, exchange, key)
    await ch.consume(REPLY_TO, (msg) => rpc.onReply(msg), { noAck: true })
    return rpc
  }

  private onReply (msg: ConsumeMessage | null): void {
    if (!msg) return
    const p = this.pending.get(msg.properties.correlationId)
    if (!p) return
    this.pending.delete(msg.properties.correlationId)
    clearTimeout(p.timer)
    p.resolve(JSON.parse(msg.content.toString('utf8')))
  }

  request (body: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const correlationId = randomUUID()
      const timer = setTimeout(() => {
        this.pending.delete(correlationId)
        reject(new Error('RPC timeout'))
      }, TIMEOUT)
      this.pending.set(correlationId, { resolve, reject, timer })
      this.ch.publish(this.exchange, this.key, Buffer.from(JSON.stringify(body)), {
        correlationId,
        replyTo: REPLY_TO,
        contentType: 'application/json'
      })
    })
  }

  async close (): Promise<void> {
    await this.ch.close().catch(() => {})
  }
}

/** Sequential requests; the latency of each, in milliseconds. */
async function latencies (request: () => Promise<unknown>, count: number): Promise<number[]> {
  const out: number[] = new Array(count)
  for (let i = 0; i < count; i++) {
    const start = now()
    await request()
    out[i] = now() - start
  }
  return out
}

type RpcImpl = RpcServerConfig['impl']

/**
 * Scenario 3: request/reply through the broker. Each implementation's server
 * runs in a child process of its own (raw amqplib, the plugin's consumer,
 * rabbitmq-client's Consumer with reply()), its client in this process (a
 * hand-written direct reply-to client, `app.amqp.request()`,
 * rabbitmq-client's RPCClient), so that client and server CPU are measured
 * apart. amqp-connection-manager has no RPC.
 */
export async function rpcScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<Row[]> {
  const exchange = await admin.exchange('x')
  const keyOf = (impl: RpcImpl) => admin.forgetLater(`wb.rpc.${impl}.${exchange.slice(5)}`)
  const servers: Partial<Record<RpcImpl, Worker>> = {}
  let app: FastifyInstance | undefined
  let conn: ChannelModel | undefined
  let rabbit: Connection | undefined
  let raw: RawRpcClient | undefined
  let rc: RPCClient | undefined
  try {
    const impls: RpcImpl[] = ['plugin', 'raw', 'rabbitmq-client']
    await Promise.all(impls.map(async (impl) => {
      const config: RpcServerConfig = { impl, url: opts.url, exchange, key: keyOf(impl), prefetch: opts.prefetch }
      servers[impl] = await startWorker(join(__dirname, '..', 'rpc-server.ts'), config)
    }))
    app = await pluginApp(opts.url, { exchange })
    conn = await rawConnect(opts.url)
    rabbit = await rabbitConnect(opts.url)
    raw = await RawRpcClient.start(conn, exchange, keyOf('raw'))
    rc = rabbit.createRPCClient({ confirm: false, timeout: TIMEOUT })
    const plugin = app
    const rawClient = raw
    const rabbitClient = rc
    const requests: Record<RpcImpl, () => Promise<unknown>> = {
      plugin: () => plugin.amqp.request(keyOf('plugin'), MESSAGE),
      raw: () => rawClient.request(MESSAGE),
      'rabbitmq-client': () => rabbitClient.send({ exchange, routingKey: keyOf('rabbitmq-client') }, MESSAGE)
    }
    for (const request of Object.values(requests)) {
      await windowed(Math.max(100, opts.rpcRequests / 10), opts.rpcConcurrency, request)
      await latencies(request, Math.max(10, opts.latencyRequests / 10))
    }
    const throughput = (impl: RpcImpl) => async () => {
      const server = servers[impl]!
      await server.call('start')
      const t = await timed(() => windowed(opts.rpcRequests, opts.rpcConcurrency, requests[impl]))
      const s = await server.call<{ cpuUs: number }>('stop')
      return { rate: perSecond(opts.rpcRequests, t.ms), cpu: t.cpuUs / opts.rpcRequests, serverCpu: s.cpuUs / opts.rpcRequests }
    }
    const results = await alternate(opts.rounds, Object.fromEntries(impls.map((impl) => [impl, throughput(impl)])), log)
    const latency = (impl: RpcImpl) => async () => {
      const ms = await latencies(requests[impl], opts.latencyRequests)
      return { p50: percentile(ms, 0.5), p99: percentile(ms, 0.99) }
    }
    const lat = await alternate(opts.rounds, Object.fromEntries(impls.map((impl) => [impl, latency(impl)])), log)
    const servedBy = 'each server in a child process of its own: raw amqplib, the plugin\'s consumer, rabbitmq-client\'s Consumer replying with reply(); clients in the bench\'s process: raw direct reply-to, app.amqp.request(), rabbitmq-client\'s createRPCClient({ confirm: false }); amqp-connection-manager has no RPC'
    return [{
      id: 'rpc-throughput',
      title: `RPC throughput, ${opts.rpcConcurrency} in flight`,
      unit: 'req/s',
      better: 'higher',
      samples: pick(results, 'rate'),
      baseline: 'raw',
      goal: { ratioAtLeast: 1.1 },
      note: servedBy
    }, {
      id: 'rpc-client-cpu',
      title: 'RPC: client CPU per request',
      unit: 'µs',
      better: 'lower',
      samples: pick(results, 'cpu'),
      baseline: 'raw',
      goal: { ratioAtMost: 1.15 }
    }, {
      id: 'rpc-server-cpu',
      title: 'RPC: server CPU per request, child process',
      unit: 'µs',
      better: 'lower',
      samples: pick(results, 'serverCpu'),
      baseline: 'raw',
      goal: { ratioAtMost: 0.8 }
    }, {
      id: 'rpc-p50',
      title: 'RPC latency p50, 1 in flight',
      unit: 'ms',
      better: 'lower',
      samples: pick(lat, 'p50'),
      baseline: 'raw',
      goal: { ratioAtMost: 1.05 }
    }, {
      id: 'rpc-p99',
      title: 'RPC latency p99, 1 in flight',
      unit: 'ms',
      better: 'lower',
      samples: pick(lat, 'p99'),
      baseline: 'raw'
    }]
  } finally {
    await rc?.close().catch(() => {})
    await rabbit?.close().catch(() => {})
    await raw?.close()
    await conn?.close().catch(() => {})
    await app?.close()
    await Promise.all(Object.values(servers).map((s) => s.stop()))
  }
}
