import type { ChannelModel } from 'amqplib'
import type { AmqpConnectionManager } from 'amqp-connection-manager'
import type { FastifyInstance } from 'fastify'
import type { Connection } from 'rabbitmq-client'
import type { ConsumeSchema, WarrenMessage } from '../../lib/index'
import { Admin, alternate, MESSAGE, pick, pluginApp, rawConnect, type Row } from '../harness'
import type { BenchOptions } from '../options'
import { acmConnectTo, rabbitConnect } from '../peers'
import { now, perSecond } from '../stats'

/** Keeps what the handlers read alive, so no JIT can drop the decoding as dead code. */
let sink = 0

/** A consumer that handles nothing for this long (2 s with --quick) has stalled: the round is given up. */
let STALL_MS = 5000

/** How long a consumer may handle nothing before its round is given up (shorter with --quick). */
export function setStall (ms: number): void {
  STALL_MS = ms
}

export interface Consumed {
  ms: number
  /** CPU time of this process meanwhile, in microseconds. */
  cpuUs: number
  handled: number
}

/** Resolves when `total` messages were handled, or when none was for STALL_MS. */
export function counter (total: number): { handled: () => void, done: Promise<Consumed> } {
  const start = now()
  const cpu = process.cpuUsage()
  let count = 0
  let last = 0
  let finish!: () => void
  const done = new Promise<Consumed>((resolve) => {
    finish = () => {
      clearInterval(watch)
      const used = process.cpuUsage(cpu)
      resolve({ ms: now() - start, cpuUs: used.user + used.system, handled: count })
    }
  })
  const watch = setInterval(() => {
    if (count === last) finish()
    last = count
  }, STALL_MS)
  return { handled: () => { if (++count === total) finish() }, done }
}

/**
 * `app.amqp.consume()` on a filled queue, from the call until the last
 * message was handled; with `schema`, each message is validated first.
 */
export async function pluginConsume (app: FastifyInstance, queue: string, total: number, prefetch: number, schema?: ConsumeSchema): Promise<Consumed> {
  const progress = counter(total)
  const consumer = app.amqp.consume<typeof MESSAGE>(queue, async (msg: WarrenMessage<typeof MESSAGE>) => {
    sink += msg.body.qty
    progress.handled()
  }, schema === undefined ? { exchange: '', queue, prefetch } : { exchange: '', queue, prefetch, schema })
  const result = await Promise.race([progress.done, consumer.ready().then(() => progress.done)])
  await consumer.cancel()
  return result
}

/**
 * The hand-written equivalent: declare the queue as the plugin does, set the
 * prefetch, consume, parse the JSON and ack each message.
 */
async function rawConsume (conn: ChannelModel, queue: string, total: number, prefetch: number): Promise<Consumed> {
  const ch = await conn.createChannel()
  const progress = counter(total)
  await ch.assertQueue(queue, { durable: true })
  await ch.prefetch(prefetch)
  await ch.consume(queue, (msg) => {
    if (msg === null) return
    sink += JSON.parse(msg.content.toString('utf8')).qty
    ch.ack(msg)
    progress.handled()
  })
  const result = await progress.done
  await ch.close()
  return result
}

/**
 * rabbitmq-client's Consumer: it declares the queue, sets the prefetch (qos),
 * decodes the JSON body itself (the content type says JSON) and acks when the
 * handler returns.
 */
async function rabbitConsume (rabbit: Connection, queue: string, total: number, prefetch: number): Promise<Consumed> {
  const progress = counter(total)
  const consumer = rabbit.createConsumer({ queue, queueOptions: { durable: true }, qos: { prefetchCount: prefetch } }, (msg) => {
    sink += (msg.body as typeof MESSAGE).qty
    progress.handled()
  })
  consumer.on('error', () => {})
  const result = await progress.done
  await consumer.close()
  return result
}

/** amqp-connection-manager's ChannelWrapper: its consume() with a prefetch, JSON.parse and ack by hand, as with amqplib. */
async function wrapperConsume (manager: AmqpConnectionManager, queue: string, total: number, prefetch: number): Promise<Consumed> {
  const cw = manager.createChannel({ confirm: false })
  await cw.waitForConnect()
  await cw.assertQueue(queue, { durable: true })
  const progress = counter(total)
  await cw.consume(queue, (msg) => {
    sink += JSON.parse(msg.content.toString('utf8')).qty
    cw.ack(msg)
    progress.handled()
  }, { prefetch })
  const result = await progress.done
  await cw.close()
  return result
}

/** Scenario 2: consume and ack a queue filled beforehand (the fill is not timed), by the plugin, raw amqplib and the peers. */
export async function consumeScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<Row[]> {
  const exchange = await admin.exchange('x')
  const app = await pluginApp(opts.url, { exchange })
  const conn = await rawConnect(opts.url)
  const rabbit = await rabbitConnect(opts.url)
  const manager = await acmConnectTo(opts.url)
  setStall(opts.quick ? 2000 : 5000)
  const impls = {
    plugin: (queue: string, n: number) => pluginConsume(app, queue, n, opts.prefetch),
    raw: (queue: string, n: number) => rawConsume(conn, queue, n, opts.prefetch),
    'rabbitmq-client': (queue: string, n: number) => rabbitConsume(rabbit, queue, n, opts.prefetch),
    'channel-wrapper': (queue: string, n: number) => wrapperConsume(manager, queue, n, opts.prefetch)
  }
  const names = Object.keys(impls) as Array<keyof typeof impls>
  const trouble = Object.fromEntries(names.map((name) => [name, { stalled: 0, unacked: 0 }]))
  try {
    const round = (impl: keyof typeof impls, n: number) => async () => {
      // Durable, because that is how the plugin declares a named queue; the messages are not persistent.
      const queue = await admin.queue('consume', { durable: true })
      await admin.fill(queue, n)
      const { ms, cpuUs, handled } = await impls[impl](queue, n)
      // Handled but never acked: back in the queue once the consumer's channel closed.
      const left = await admin.messageCount(queue)
      await admin.deleteQueue(queue)
      if (handled < n) {
        trouble[impl].stalled++
        log(`  ${impl} stalled: handled ${handled} of ${n} messages, then nothing for ${STALL_MS / 1000} s`)
        return { rate: NaN, cpu: NaN }
      }
      trouble[impl].unacked += left
      return { rate: perSecond(n, ms), cpu: cpuUs / n }
    }
    for (const impl of names) await round(impl, Math.max(100, opts.messages / 10))()
    const results = await alternate(opts.rounds, Object.fromEntries(names.map((name) => [name, round(name, opts.messages)])), log)
    const notes = Object.entries(trouble)
      .filter(([, t]) => t.stalled + t.unacked > 0)
      .map(([impl, t]) => `${impl}: stalled in ${t.stalled} round(s) (warm-up included), ${t.unacked} message(s) handled but never acked`)
    return [{
      id: 'consume',
      title: `consume + ack, prefetch ${opts.prefetch}`,
      unit: 'msg/s',
      better: 'higher',
      samples: pick(results, 'rate'),
      baseline: 'raw',
      goal: { ratioAtLeast: 0.95 },
      note: [
        ...notes,
        ...(sink > 0 ? [] : ['no message was read']),
        'rabbitmq-client: createConsumer({ qos: { prefetchCount } }), JSON decoded by it, acked on return; channel-wrapper: consume(queue, fn, { prefetch }), JSON.parse, ack'
      ].join('; ')
    }, {
      id: 'consume-cpu',
      title: 'consume: client CPU per message',
      unit: 'µs',
      better: 'lower',
      samples: pick(results, 'cpu'),
      baseline: 'raw',
      goal: { ratioAtMost: 1.05 }
    }]
  } finally {
    await app.close()
    await conn.close().catch(() => {})
    await rabbit.close().catch(() => {})
    await manager.close().catch(() => {})
  }
}
