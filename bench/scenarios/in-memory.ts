import type { FastifyInstance } from 'fastify'
import type { WarrenMessage } from '../../lib/index'
import { alternate, MESSAGE, pluginApp, uniqueName, windowed, type Admin, type Row } from '../harness'
import type { BenchOptions } from '../options'
import { perSecond } from '../stats'
import { counter } from './consume'

/*
 * The in-memory broker (memory://) against RabbitMQ, through the plugin
 * alike: one app publishes, with confirms and a window of publishes in
 * flight, and a consumer in the same app handles each message; timed until
 * the last one is handled. What a test suite on memory:// gains per message.
 */

/** Publishes `total` messages to `key` and resolves once the consumer has handled them all. */
async function flow (app: FastifyInstance, key: string, total: number, window: number, prefetch: number): Promise<{ rate: number, cpu: number }> {
  const progress = counter(total)
  const consumer = app.amqp.consume<typeof MESSAGE>(key, async (msg: WarrenMessage<typeof MESSAGE>) => {
    if (msg.body.qty >= 0) progress.handled()
  }, { prefetch })
  await consumer.ready()
  await windowed(total, window, () => app.amqp.publish(key, MESSAGE))
  const { ms, cpuUs, handled } = await progress.done
  await consumer.cancel()
  if (handled < total) return { rate: NaN, cpu: NaN }
  return { rate: perSecond(total, ms), cpu: cpuUs / total }
}

/** Scenario: publish → consume through the plugin on memory:// and on RabbitMQ. */
export async function inMemoryScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<Row[]> {
  const exchange = await admin.exchange('x')
  // The plugin declares the queue (as its consumers do); the admin deletes it at the end.
  const key = admin.forgetLater(uniqueName('in-memory'))
  const onRabbit = await pluginApp(opts.url, { exchange })
  const onMemory = await pluginApp('memory://', { exchange })
  try {
    const round = (app: FastifyInstance) => () => flow(app, key, opts.messages, opts.window, opts.prefetch)
    await round(onMemory)()
    const results = await alternate(opts.rounds, { memory: round(onMemory), rabbitmq: round(onRabbit) }, log)
    const note = 'plugin: the plugin on memory://; raw: the same plugin on RabbitMQ (this column is not amqplib here)'
    return [{
      id: 'in-memory',
      title: 'publish → consume on memory:// vs RabbitMQ (info)',
      unit: 'msg/s',
      better: 'higher',
      samples: { plugin: results.memory.map((r) => r.rate), raw: results.rabbitmq.map((r) => r.rate) },
      baseline: 'raw',
      note
    }, {
      id: 'in-memory-cpu',
      title: 'publish → consume on memory://: CPU per message (info)',
      unit: 'µs',
      better: 'lower',
      samples: { plugin: results.memory.map((r) => r.cpu), raw: results.rabbitmq.map((r) => r.cpu) },
      baseline: 'raw'
    }]
  } finally {
    await onMemory.close()
    await onRabbit.close()
  }
}
