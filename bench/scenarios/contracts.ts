import { Type } from '@sinclair/typebox'
import { z } from 'zod'
import { Admin, alternate, MESSAGE, PLUGIN_PATH, pluginApp, timed, windowed, type Row } from '../harness'
import type { BenchOptions } from '../options'
import { perSecond } from '../stats'
import { pluginConsume, setStall } from './consume'

/*
 * What a schema costs: publish and consume of the bench's small JSON message
 * with a definition (validated before sending, or before the handler) beside
 * the same without one, in the same run. The target: validation costs at most
 * 10% of throughput. TypeBox is compiled by ajv; Zod is an informational row.
 */

// The same build of the plugin as the harness loads (BENCH_PLUGIN).
const { defineMessage } = require(PLUGIN_PATH) as typeof import('../../lib/index')

const typebox = Type.Object({
  id: Type.Integer(),
  type: Type.String(),
  sku: Type.String(),
  qty: Type.Integer({ minimum: 1 }),
  price: Type.Number(),
  at: Type.String()
})
const zod = z.object({ id: z.number().int(), type: z.string(), sku: z.string(), qty: z.number().int().min(1), price: z.number(), at: z.string() })

/** Scenario: publish and consume with a schema, against the plugin without one. */
export async function contractsScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<Row[]> {
  const exchange = await admin.exchange('x')
  const queue = await admin.queue('contracts', { exchange })
  const app = await pluginApp(opts.url, { exchange })
  setStall(opts.quick ? 2000 : 5000)
  try {
    const withTypeBox = defineMessage(queue, { body: typebox })
    const withZod = defineMessage(queue, { body: zod })
    const publish = {
      plain: (n: number) => windowed(n, opts.window, () => app.amqp.publish(queue, MESSAGE)),
      typebox: (n: number) => windowed(n, opts.window, () => app.amqp.publish(withTypeBox, MESSAGE)),
      zod: (n: number) => windowed(n, opts.window, () => app.amqp.publish(withZod, MESSAGE))
    }
    const publishRound = (run: (n: number) => Promise<void>) => async () => {
      await admin.purge(queue)
      const t = await timed(() => run(opts.messages))
      return { rate: perSecond(opts.messages, t.ms), cpu: t.cpuUs / opts.messages }
    }
    for (const run of Object.values(publish)) await run(Math.max(100, opts.messages / 10))
    const published = await alternate(opts.rounds, {
      plain: publishRound(publish.plain),
      typebox: publishRound(publish.typebox),
      zod: publishRound(publish.zod)
    }, log)
    await admin.purge(queue)

    const consumeRound = (schema?: { body: unknown }) => async () => {
      const q = await admin.queue('contracts-consume', { durable: true })
      await admin.fill(q, opts.messages)
      const { ms, cpuUs, handled } = await pluginConsume(app, q, opts.messages, opts.prefetch, schema as any)
      await admin.deleteQueue(q)
      if (handled < opts.messages) return { rate: NaN, cpu: NaN }
      return { rate: perSecond(opts.messages, ms), cpu: cpuUs / opts.messages }
    }
    const consumed = await alternate(opts.rounds, {
      plain: consumeRound(),
      typebox: consumeRound({ body: typebox }),
      zod: consumeRound({ body: zod })
    }, log)

    const vs = (results: Record<string, Array<{ rate: number, cpu: number }>>, impl: string, key: 'rate' | 'cpu') =>
      ({ plugin: results[impl].map((r) => r[key]), plain: results.plain.map((r) => r[key]) })
    return [{
      id: 'publish-schema',
      title: 'publish with a schema (TypeBox, ajv) vs without',
      unit: 'msg/s',
      better: 'higher',
      samples: vs(published, 'typebox', 'rate'),
      baseline: 'plain',
      goal: { ratioAtLeast: 0.9 }
    }, {
      id: 'publish-schema-zod',
      title: 'publish with a schema (Zod) vs without (info)',
      unit: 'msg/s',
      better: 'higher',
      samples: vs(published, 'zod', 'rate'),
      baseline: 'plain'
    }, {
      id: 'publish-schema-cpu',
      title: 'publish with a schema (TypeBox): CPU per message',
      unit: 'µs',
      better: 'lower',
      samples: vs(published, 'typebox', 'cpu'),
      baseline: 'plain',
      goal: { ratioAtMost: 1.1 }
    }, {
      id: 'consume-schema',
      title: 'consume with a schema (TypeBox, ajv) vs without',
      unit: 'msg/s',
      better: 'higher',
      samples: vs(consumed, 'typebox', 'rate'),
      baseline: 'plain',
      goal: { ratioAtLeast: 0.9 }
    }, {
      id: 'consume-schema-zod',
      title: 'consume with a schema (Zod) vs without (info)',
      unit: 'msg/s',
      better: 'higher',
      samples: vs(consumed, 'zod', 'rate'),
      baseline: 'plain'
    }, {
      id: 'consume-schema-cpu',
      title: 'consume with a schema (TypeBox): CPU per message (info)',
      unit: 'µs',
      better: 'lower',
      samples: vs(consumed, 'typebox', 'cpu'),
      baseline: 'plain'
    }]
  } finally {
    await app.close()
  }
}
