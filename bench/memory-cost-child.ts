/*
 * The client of the memory-cost scenario, in a process of its own (with
 * --expose-gc) so that its heap is its own. It connects through the bench's
 * proxy; 'measure' publishes `count` messages while the proxy holds the
 * broker's confirms back (in-flight) or while the connection is down
 * (buffered, the plugin only: amqplib has no buffer) and answers with the
 * growth of the heap and external memory after a full collection; 'settle'
 * waits for every publish once the proxy lets things through again.
 */
import amqplib, { type ChannelModel, type ConfirmChannel } from 'amqplib'
import type { FastifyInstance } from 'fastify'
import { serveCommands } from './child'
import { MESSAGE } from './message'

export interface CostConfig {
  impl: 'plugin' | 'raw'
  url: string
  exchange: string
  /** A queue bound to the exchange with its own name as routing key. */
  key: string
}

export type CostMode = 'in-flight' | 'buffered'

let app: FastifyInstance | undefined
let conn: ChannelModel | undefined
let ch: ConfirmChannel | undefined
let config!: CostConfig
let pending: Array<Promise<unknown>> = []
let failed = 0
let baseline = 0

/** Heap in use plus memory outside the heap (Buffers), after a full collection. */
function used (): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) throw new Error('run with --expose-gc')
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}

const tick = () => new Promise((resolve) => setImmediate(resolve))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until (what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

function publishOne (): Promise<unknown> {
  if (app) return app.amqp.publish(config.key, MESSAGE)
  return new Promise<void>((resolve, reject) => {
    ch!.publish(config.exchange, config.key, Buffer.from(JSON.stringify(MESSAGE)), { persistent: true, mandatory: true, contentType: 'application/json' }, (err) => {
      if (err) reject(err)
      else resolve()
    })
  })
}

serveCommands({
  async ready (c: CostConfig) {
    config = c
    if (c.impl === 'plugin') {
      const { pluginApp } = await import('./harness')
      app = await pluginApp(c.url, {
        exchange: c.exchange,
        connectionName: 'warren-bench-memory-cost',
        reconnectDelay: 100,
        reconnectDelayMax: 200,
        publishBuffer: 10_000_000,
        publishBufferBytes: 2 ** 40,
        publishTimeout: 600_000
      })
    } else {
      conn = await amqplib.connect(c.url, { noDelay: true })
      conn.on('error', () => {})
      ch = await conn.createConfirmChannel()
    }
    // Warm-up: the JIT and the pools, through the whole path once.
    await Promise.all(Array.from({ length: 1000 }, publishOne))
  },
  async measure ({ mode, count }: { mode: CostMode, count: number }) {
    if (mode === 'buffered') {
      if (!app) throw new Error('only the plugin buffers')
      await until('the connection to drop', () => !app!.amqp.health().connected)
    }
    baseline = used()
    failed = 0
    pending = Array.from({ length: count }, () => publishOne().catch(() => { failed++ }))
    if (mode === 'buffered') {
      await until('the publishes to be buffered', () => app!.amqp.health().buffered >= count)
    } else {
      // Let every publish reach the socket: the confirms are held by the proxy.
      for (let i = 0; i < 10; i++) await tick()
      await sleep(300)
    }
    const held = used()
    return { bytesPerMessage: (held - baseline) / count, heldBytes: held - baseline }
  },
  async settle () {
    await Promise.race([Promise.all(pending), sleep(120_000).then(() => { throw new Error('publishes still pending after 120 s') })])
    pending = []
    return { leftBytes: used() - baseline, failed }
  }
}, async () => {
  await app?.close()
  await conn?.close()
})
