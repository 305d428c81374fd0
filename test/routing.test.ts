import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import type { FastifyInstance } from 'fastify'
import { admin, build, uniqueName } from './helpers'
import type { ConsumeOptions } from '../lib/index'

/**
 * Binds one exclusive consumer per entry of `bindings`, publishes every key of `keys`
 * to `exchange`, then a sentinel that every binding matches, and returns what each consumer got.
 */
async function route (
  app: FastifyInstance,
  bindings: Record<string, { keys: string | string[], options?: ConsumeOptions }>,
  publishes: Array<{ key: string, headers?: Record<string, unknown> }>,
  sentinel: { key: string, headers?: Record<string, unknown> },
  exchange: string
): Promise<Record<string, string[]>> {
  const got: Record<string, string[]> = {}
  const finished: Array<Promise<void>> = []
  for (const [name, b] of Object.entries(bindings)) {
    got[name] = []
    let done!: () => void
    finished.push(new Promise<void>((resolve) => { done = resolve }))
    const consumer = app.amqp.consume(b.keys, async (msg: WarrenMessage<any>) => {
      if (msg.body === 'sentinel') return done()
      got[name].push(msg.body)
    }, { exchange, exclusive: true, prefetch: 1, ...b.options })
    await consumer.ready()
  }
  // One publisher channel, confirms in order: each consumer sees the sentinel after everything routed to it.
  for (const p of publishes) await app.amqp.publish(p.key, p.key, { exchange, headers: p.headers, mandatory: false })
  await app.amqp.publish(sentinel.key, 'sentinel', { exchange, headers: sentinel.headers })
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    Promise.all(finished),
    new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`sentinel not seen by all: ${JSON.stringify(got)}`)), 10000) })
  ]).finally(() => clearTimeout(timer))
  for (const name of Object.keys(got)) got[name].sort()
  return got
}

t.test('a fanout exchange gives every bound service every message, whatever the routing key', async (t) => {
  const exchange = uniqueName(t, 'fanout')
  const app = await build(t)
  const { exchanges } = await admin(t)
  exchanges.push(exchange)
  const got = await route(app, {
    s2: { keys: 'ignored', options: { exchangeType: 'fanout' } },
    s3: { keys: 'also-ignored', options: { exchangeType: 'fanout' } }
  }, [{ key: 'a' }, { key: 'b.c' }], { key: 'z' }, exchange)
  t.same(got, { s2: ['a', 'b.c'], s3: ['a', 'b.c'] })
})

t.test('a direct exchange gives each consumer only the keys it bound', async (t) => {
  const exchange = uniqueName(t, 'direct')
  const app = await build(t)
  const { exchanges } = await admin(t)
  exchanges.push(exchange)
  const got = await route(app, {
    errors: { keys: ['error', 'sentinel'], options: { exchangeType: 'direct' } },
    rest: { keys: ['info', 'warning', 'sentinel'], options: { exchangeType: 'direct' } }
  }, [{ key: 'error' }, { key: 'info' }, { key: 'warning' }, { key: 'debug' }], { key: 'sentinel' }, exchange)
  t.same(got, { errors: ['error'], rest: ['info', 'warning'] })
})

t.test('a topic exchange matches * to exactly one word and # to zero or more words', async (t) => {
  const exchange = uniqueName(t, 'topic')
  const app = await build(t)
  const { exchanges } = await admin(t)
  exchanges.push(exchange)
  const got = await route(app, {
    kernAny: { keys: ['kern.*', 'end'] },
    critical: { keys: ['*.critical', 'end'] },
    everything: { keys: '#' },
    ordersDeep: { keys: ['orders.#', 'end'] }
  }, [
    { key: 'kern.info' },
    { key: 'kern.critical' },
    { key: 'kern' },
    { key: 'kern.disk.full' },
    { key: 'app.critical' },
    { key: 'orders' },
    { key: 'orders.eu.created' }
  ], { key: 'end' }, exchange)
  t.same(got.kernAny, ['kern.critical', 'kern.info'], '* needs exactly one word')
  t.same(got.critical, ['app.critical', 'kern.critical'])
  t.same(got.ordersDeep, ['orders', 'orders.eu.created'], '# matches zero words too')
  t.same(got.everything, ['app.critical', 'kern', 'kern.critical', 'kern.disk.full', 'kern.info', 'orders', 'orders.eu.created'])
})

t.test('a headers exchange routes on all or any of the matched headers', async (t) => {
  const exchange = uniqueName(t, 'headers')
  const app = await build(t)
  const { exchanges } = await admin(t)
  exchanges.push(exchange)
  const got = await route(app, {
    pdfReports: { keys: '', options: { exchangeType: 'headers', headers: { format: 'pdf', type: 'report' }, match: 'all' } },
    pdfOrLog: { keys: '', options: { exchangeType: 'headers', headers: { format: 'pdf', type: 'log' }, match: 'any' } }
  }, [
    { key: 'pdf-report', headers: { format: 'pdf', type: 'report' } },
    { key: 'pdf-invoice', headers: { format: 'pdf', type: 'invoice' } },
    { key: 'zip-log', headers: { format: 'zip', type: 'log' } },
    { key: 'zip-report', headers: { format: 'zip', type: 'report' } }
  ], { key: '', headers: { format: 'pdf', type: 'report' } }, exchange)
  t.same(got.pdfReports, ['pdf-report'])
  t.same(got.pdfOrLog, ['pdf-invoice', 'pdf-report', 'zip-log'])
})

t.test('binding to an existing exchange of another type fails with FST_AMQP_TOPOLOGY', async (t) => {
  const exchange = uniqueName(t, 'fanout')
  const { ch, exchanges } = await admin(t)
  exchanges.push(exchange)
  await ch.assertExchange(exchange, 'fanout', { durable: true })
  const app = await build(t)
  const consumer = app.amqp.consume('k', async () => {}, { exchange, exchangeType: 'direct', exclusive: true })
  await t.rejects(consumer.ready(), { code: 'FST_AMQP_TOPOLOGY', message: /exchange/ })
})

t.test('exchanges named in the plugin options are declared at boot, so a publish to them succeeds before any consumer binds', async (t) => {
  const fanout = uniqueName(t, 'fanout')
  const { ch, exchanges } = await admin(t)
  exchanges.push(fanout)
  const app = await build(t, { exchanges: { [fanout]: 'fanout' } })
  const receipt = await app.amqp.publish('', { before: 'anyone' }, { exchange: fanout, mandatory: false })
  t.type(receipt.messageId, 'string')
  await t.resolves(ch.checkExchange(fanout), 'the exchange exists on the broker')

  // A consumer of it gets its type without being told, and its queue gets every message.
  const got = await route(app, { a: { keys: 'ignored' }, b: { keys: 'also-ignored' } }, [{ key: 'x' }], { key: 'y' }, fanout)
  t.same(got, { a: ['x'], b: ['x'] })
  t.throws(() => app.amqp.consume('k', async () => {}, { exchange: fanout, exchangeType: 'direct', exclusive: true }),
    { code: 'FST_AMQP_INVALID_ARGUMENT', message: /declared as a fanout exchange/ })
})
