/*
 * One implementation of the memory scenario, in a process of its own so that
 * its RSS is its own: messages flow publish → queue → consume on one
 * connection, the backlog kept bounded, and memory is sampled (after a full
 * collection; the process runs with --expose-gc) every 1% of the messages.
 * Started by bench/scenarios/memory.ts with fork(); sends { samples, ms } at the end.
 */
import type { Channel, ConfirmChannel } from 'amqplib'
import { MESSAGE, pluginApp, rawConnect } from './harness'
import { now } from './stats'

export interface MemoryConfig {
  impl: 'plugin' | 'raw'
  url: string
  exchange: string
  queue: string
  messages: number
  /** Publishes awaiting their confirm, at most. */
  window: number
  /** Published but not yet consumed, at most: keeps the queue short, so the broker's memory stays out of it. */
  backlog: number
  prefetch: number
}

export interface MemorySample {
  /** Messages consumed so far. */
  messages: number
  rssMB: number
  heapMB: number
}

interface Flow {
  publish: () => Promise<unknown>
  /** Starts consuming; calls `onMessage` for each message handled. */
  consume: (onMessage: () => void) => Promise<void>
  close: () => Promise<void>
}

let sink = 0

async function pluginFlow (c: MemoryConfig): Promise<Flow> {
  const app = await pluginApp(c.url, { exchange: c.exchange })
  return {
    publish: () => app.amqp.publish(c.queue, MESSAGE, { persistent: false }),
    consume: async (onMessage) => {
      await app.amqp.consume<typeof MESSAGE>(c.queue, async (msg) => {
        sink += msg.body.qty
        onMessage()
      }, { prefetch: c.prefetch }).ready()
    },
    close: () => app.close()
  }
}

async function rawFlow (c: MemoryConfig): Promise<Flow> {
  const conn = await rawConnect(c.url)
  const pub: ConfirmChannel = await conn.createConfirmChannel()
  const sub: Channel = await conn.createChannel()
  return {
    publish: () => new Promise<void>((resolve, reject) => {
      pub.publish(c.exchange, c.queue, Buffer.from(JSON.stringify(MESSAGE)), { persistent: false, mandatory: true, contentType: 'application/json' }, (err) => {
        if (err) reject(err)
        else resolve()
      })
    }),
    consume: async (onMessage) => {
      await sub.assertQueue(c.queue, { durable: true })
      await sub.bindQueue(c.queue, c.exchange, c.queue)
      await sub.prefetch(c.prefetch)
      await sub.consume(c.queue, (msg) => {
        if (!msg) return
        sink += JSON.parse(msg.content.toString('utf8')).qty
        sub.ack(msg)
        onMessage()
      })
    },
    close: () => conn.close()
  }
}

function sample (messages: number): MemorySample {
  (globalThis as { gc?: () => void }).gc?.()
  const m = process.memoryUsage()
  return { messages, rssMB: m.rss / 2 ** 20, heapMB: m.heapUsed / 2 ** 20 }
}

async function run (c: MemoryConfig): Promise<{ samples: MemorySample[], ms: number }> {
  const flow = c.impl === 'plugin' ? await pluginFlow(c) : await rawFlow(c)
  const step = Math.max(1, Math.floor(c.messages / 100))
  const samples: MemorySample[] = [sample(0)]
  let published = 0
  let confirmed = 0
  let consumed = 0
  let finish!: (err?: Error) => void
  const done = new Promise<void>((resolve, reject) => { finish = (err) => err ? reject(err) : resolve() })
  const pump = (): void => {
    while (published < c.messages && published - consumed < c.backlog && published - confirmed < c.window) {
      published++
      flow.publish().then(() => { confirmed++; pump() }, finish)
    }
  }
  await flow.consume(() => {
    consumed++
    if (consumed % step === 0) samples.push(sample(consumed))
    if (consumed === c.messages) finish()
    else pump()
  })
  const start = now()
  pump()
  await done
  const ms = now() - start
  await flow.close()
  return { samples, ms }
}

process.once('message', (config: MemoryConfig) => {
  run(config).then((result) => {
    process.send!({ ...result, sink }, () => process.exit(0))
  }, (err) => {
    console.error(err)
    process.exit(1)
  })
})
