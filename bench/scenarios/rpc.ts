import { randomUUID } from 'node:crypto'
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib'
import type { FastifyInstance } from 'fastify'
import { Admin, alternate, MESSAGE, pick, pluginApp, rawConnect, timed, windowed, type Row } from '../harness'
import type { BenchOptions } from '../options'
import { now, percentile, perSecond } from '../stats'

type Message = typeof MESSAGE
const REPLY_TO = 'amq.rabbitmq.reply-to'
const TIMEOUT = 5000

/** What both servers answer. */
function answer (body: Message): { ok: boolean, id: number } {
  return { ok: true, id: body.id }
}

/**
 * A straightforward amqplib RPC, as one would write it by hand: a server that
 * replies to reply_to with the correlation id and acks, and a client on
 * direct reply-to with a map of pending requests and a timeout for each.
 */
export class RawRpc {
  private readonly pending = new Map<string, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()

  private constructor (private readonly client: Channel, private readonly server: Channel, private readonly exchange: string, private readonly key: string) {}

  static async start (conn: ChannelModel, exchange: string, key: string, prefetch: number): Promise<RawRpc> {
    const server = await conn.createChannel()
    await server.assertQueue(key, { durable: true })
    await server.bindQueue(key, exchange, key)
    await server.prefetch(prefetch)
    const client = await conn.createChannel()
    const rpc = new RawRpc(client, server, exchange, key)
    await server.consume(key, (msg) => rpc.serve(msg))
    await client.consume(REPLY_TO, (msg) => rpc.onReply(msg), { noAck: true })
    return rpc
  }

  private serve (msg: ConsumeMessage | null): void {
    if (!msg) return
    const reply = answer(JSON.parse(msg.content.toString('utf8')))
    this.server.sendToQueue(msg.properties.replyTo, Buffer.from(JSON.stringify(reply)), {
      correlationId: msg.properties.correlationId,
      contentType: 'application/json'
    })
    this.server.ack(msg)
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
      this.client.publish(this.exchange, this.key, Buffer.from(JSON.stringify(body)), {
        correlationId,
        replyTo: REPLY_TO,
        contentType: 'application/json'
      })
    })
  }

  async close (): Promise<void> {
    await this.client.close().catch(() => {})
    await this.server.close().catch(() => {})
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

/** Scenario 3: request/reply through the broker, server and client in this process, both on one connection. */
export async function rpcScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<Row[]> {
  const exchange = await admin.exchange('x')
  const app: FastifyInstance = await pluginApp(opts.url, { exchange })
  const conn = await rawConnect(opts.url)
  let raw: RawRpc | undefined
  try {
    const pluginKey = admin.forgetLater(`wb.rpc.plugin.${exchange.slice(5)}`)
    const consumer = app.amqp.consume<Message>(pluginKey, (msg) => answer(msg.body), { prefetch: opts.prefetch })
    await consumer.ready()
    const rawKey = admin.forgetLater(`wb.rpc.raw.${exchange.slice(5)}`)
    raw = await RawRpc.start(conn, exchange, rawKey, opts.prefetch)
    const rpc = raw

    const impls = {
      plugin: () => app.amqp.request(pluginKey, MESSAGE),
      raw: () => rpc.request(MESSAGE)
    }
    for (const request of Object.values(impls)) {
      await windowed(Math.max(100, opts.rpcRequests / 10), opts.rpcConcurrency, request)
      await latencies(request, Math.max(10, opts.latencyRequests / 10))
    }
    const throughput = (request: () => Promise<unknown>) => async () => {
      const t = await timed(() => windowed(opts.rpcRequests, opts.rpcConcurrency, request))
      return { rate: perSecond(opts.rpcRequests, t.ms), cpu: t.cpuUs / opts.rpcRequests }
    }
    const results = await alternate(opts.rounds, { plugin: throughput(impls.plugin), raw: throughput(impls.raw) }, log)
    const latency = (request: () => Promise<unknown>) => async () => {
      const ms = await latencies(request, opts.latencyRequests)
      return { p50: percentile(ms, 0.5), p99: percentile(ms, 0.99) }
    }
    const lat = await alternate(opts.rounds, { plugin: latency(impls.plugin), raw: latency(impls.raw) }, log)
    await consumer.cancel()
    return [{
      id: 'rpc-throughput',
      title: `RPC throughput, ${opts.rpcConcurrency} in flight`,
      unit: 'req/s',
      better: 'higher',
      samples: pick(results, 'rate'),
      baseline: 'raw',
      goal: { ratioAtLeast: 1.0 }
    }, {
      id: 'rpc-cpu',
      title: 'RPC: client + server CPU per request (info)',
      unit: 'µs',
      better: 'lower',
      samples: pick(results, 'cpu'),
      baseline: 'raw'
    }, {
      id: 'rpc-p50',
      title: 'RPC latency p50, 1 in flight',
      unit: 'ms',
      better: 'lower',
      samples: pick(lat, 'p50'),
      baseline: 'raw',
      goal: { atMost: 0.3 }
    }, {
      id: 'rpc-p99',
      title: 'RPC latency p99, 1 in flight',
      unit: 'ms',
      better: 'lower',
      samples: pick(lat, 'p99'),
      baseline: 'raw'
    }]
  } finally {
    await app.close()
    await raw?.close()
    await conn.close().catch(() => {})
  }
}
