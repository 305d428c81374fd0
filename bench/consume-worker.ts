/*
 * One consumer worker of the consumers curve, in a process of its own: the
 * plugin (`app.amqp.consume()`) or raw amqplib (consume, JSON.parse, ack), as
 * 'start' says, on the queue it names, until 'stop'. Both are set up in every
 * worker (half the processes to start, and the two run in identical
 * processes). It reports how many messages it has handled (`{ progress: n }`,
 * at most every 10 ms) and, on 'stop', its CPU over the window. Started by
 * bench/scenarios/consumers.ts.
 */
import type { Channel, ChannelModel } from 'amqplib'
import type { FastifyInstance } from 'fastify'
import { cpuSince, serveCommands } from './child'
import { pluginApp, rawConnect } from './harness'
import type { MESSAGE } from './message'

export type WorkerImpl = 'plugin' | 'raw'

export interface WorkerConfig {
  url: string
  prefetch: number
}

let sink = 0
let config!: WorkerConfig
let app!: FastifyInstance
let conn!: ChannelModel
let handled = 0
let reporting = false
let stopConsumer: (() => Promise<void>) | undefined
let window: { cpu: NodeJS.CpuUsage, start: number } | undefined

function onMessage (): void {
  handled++
  if (reporting) return
  reporting = true
  setTimeout(() => {
    reporting = false
    process.send!({ progress: handled })
  }, 10)
}

async function consumePlugin (queue: string): Promise<() => Promise<void>> {
  const consumer = app.amqp.consume<typeof MESSAGE>(queue, async (msg) => {
    sink += msg.body.qty
    onMessage()
  }, { exchange: '', queue, prefetch: config.prefetch })
  await consumer.ready()
  return () => consumer.cancel()
}

async function consumeRaw (queue: string): Promise<() => Promise<void>> {
  const ch: Channel = await conn.createChannel()
  await ch.assertQueue(queue, { durable: true })
  await ch.prefetch(config.prefetch)
  await ch.consume(queue, (msg) => {
    if (!msg) return
    sink += JSON.parse(msg.content.toString('utf8')).qty
    ch.ack(msg)
    onMessage()
  })
  return () => ch.close()
}

serveCommands({
  async ready (c: WorkerConfig) {
    config = c
    app = await pluginApp(c.url, { connectionName: 'warren-bench-worker' })
    conn = await rawConnect(c.url)
  },
  async start ({ impl, queue }: { impl: WorkerImpl, queue: string }) {
    handled = 0
    window = { cpu: process.cpuUsage(), start: performance.now() }
    stopConsumer = impl === 'plugin' ? await consumePlugin(queue) : await consumeRaw(queue)
  },
  async stop () {
    if (!window) throw new Error('stop before start')
    const result = { cpuUs: cpuSince(window.cpu), ms: performance.now() - window.start, handled, sink }
    window = undefined
    await stopConsumer?.()
    stopConsumer = undefined
    return result
  }
}, async () => {
  await app.close()
  await conn.close()
})
