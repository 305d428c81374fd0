import type { FastifyInstance } from 'fastify'
import type { ChannelModel, ConfirmChannel } from 'amqplib'
import { bodyOfSize, messagesAtSize, messagesAtWindow, sizeLabel, type Curve } from '../curves'
import { alternate, MESSAGE, pluginApp, rawConnect, timed, windowed, type Admin } from '../harness'
import type { BenchOptions } from '../options'
import { perSecond } from '../stats'
import { rawPublishMany } from './publish'

/*
 * How publishing grows with the message and with the window: the plugin
 * against raw amqplib (confirmed, persistent, mandatory, JSON encoded per
 * publish, the same topic exchange as the publish scenario), several rounds
 * at each point, alternating.
 */

/** The points of the size curve, in bytes of JSON body. */
export const SIZES = [100, 4096, 65536, 2 ** 20]
/** The points of the window curve: publishes in flight. */
export const WINDOWS = [1, 10, 100, 1000]
/** In flight at once in the size curve, at most, in bytes: 16 MB (16 publishes of 1 MB, 1,000 of 100 B). */
const BYTES_IN_FLIGHT = 16 * 2 ** 20
/** The destination queue keeps at most this many bytes (the oldest are dropped), so the broker's memory stays small. */
const QUEUE_BYTES = 64 * 2 ** 20

type Samples = Record<string, number[]>

interface Setup { app: FastifyInstance, conn: ChannelModel, ch: ConfirmChannel, exchange: string, queue: string, returned: { count: number } }

async function setup (opts: BenchOptions, admin: Admin, what: string): Promise<Setup> {
  const exchange = await admin.exchange('x')
  const queue = await admin.queue(what, { exchange, args: { 'x-max-length-bytes': QUEUE_BYTES } })
  const app = await pluginApp(opts.url, { exchange })
  const conn = await rawConnect(opts.url)
  const ch = await conn.createConfirmChannel()
  const returned = { count: 0 }
  ch.on('return', () => { returned.count++ })
  return { app, conn, ch, exchange, queue, returned }
}

/** One point: plugin and raw, `rounds` rounds of `count` publishes of `body` with `window` in flight. */
async function point (s: Setup, admin: Admin, rounds: number, body: unknown, count: number, window: number, log: (msg: string) => void): Promise<{ rate: Samples, cpu: Samples }> {
  const impls = {
    plugin: () => windowed(count, window, () => s.app.amqp.publish(s.queue, body)),
    raw: () => rawPublishMany(s.ch, s.exchange, s.queue, count, window, undefined, undefined, body)
  }
  const round = (run: () => Promise<void>) => async () => {
    await admin.purge(s.queue)
    const t = await timed(run)
    return { rate: perSecond(count, t.ms), cpu: t.cpuUs / count }
  }
  for (const run of Object.values(impls)) await run()
  const results = await alternate(rounds, { plugin: round(impls.plugin), raw: round(impls.raw) }, log)
  if (s.returned.count > 0) throw new Error(`raw publisher: ${s.returned.count} messages returned as unroutable`)
  return {
    rate: { plugin: results.plugin.map((r) => r.rate), raw: results.raw.map((r) => r.rate) },
    cpu: { plugin: results.plugin.map((r) => r.cpu), raw: results.raw.map((r) => r.cpu) }
  }
}

/** The size curve: 100 B, 4 KB, 64 KB and 1 MB JSON bodies. */
export async function sizeScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<{ rows: [], curves: Curve[] }> {
  const s = await setup(opts, admin, 'size')
  try {
    const points: Array<{ bytes: number, count: number, window: number, rate: Samples, cpu: Samples }> = []
    for (const bytes of SIZES) {
      const count = messagesAtSize(opts.curveMessages, bytes)
      const window = Math.max(1, Math.min(opts.window, Math.floor(BYTES_IN_FLIGHT / bytes)))
      log(`  ${sizeLabel(bytes)}: ${count} messages, ${window} in flight`)
      points.push({ bytes, count, window, ...await point(s, admin, opts.curveRounds, bodyOfSize(bytes), count, window, log) })
    }
    const xTitle = 'JSON body size'
    const label = (p: typeof points[number]) => `${sizeLabel(p.bytes)}`
    const note = `confirmed, persistent, mandatory; in flight: ${points.map((p) => `${p.window} at ${sizeLabel(p.bytes)}`).join(', ')} (at most ${BYTES_IN_FLIGHT / 2 ** 20} MB); messages per round: ${points.map((p) => p.count).join(', ')}`
    return {
      rows: [],
      curves: [{
        id: 'size-rate',
        title: 'publish throughput by message size',
        xTitle,
        unit: 'msg/s',
        better: 'higher',
        baseline: 'raw',
        logY: true,
        points: points.map((p) => ({ x: p.bytes, label: label(p), samples: p.rate })),
        note
      }, {
        id: 'size-cpu',
        title: 'publish: client CPU per message by message size',
        xTitle,
        unit: 'µs',
        better: 'lower',
        baseline: 'raw',
        logY: true,
        points: points.map((p) => ({ x: p.bytes, label: label(p), samples: p.cpu }))
      }]
    }
  } finally {
    await s.app.close()
    await s.conn.close().catch(() => {})
  }
}

/** The window curve: 1, 10, 100 and 1,000 publishes in flight, the small JSON message. */
export async function windowScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<{ rows: [], curves: Curve[] }> {
  const s = await setup(opts, admin, 'window')
  try {
    const points: Array<{ window: number, count: number, rate: Samples, cpu: Samples }> = []
    for (const window of WINDOWS) {
      const count = messagesAtWindow(opts.curveMessages, window)
      log(`  ${window} in flight: ${count} messages`)
      points.push({ window, count, ...await point(s, admin, opts.curveRounds, MESSAGE, count, window, log) })
    }
    const xTitle = 'publishes in flight'
    const note = `confirmed, persistent, mandatory, the ${JSON.stringify(MESSAGE).length}-byte JSON message; messages per round: ${points.map((p) => p.count).join(', ')}`
    return {
      rows: [],
      curves: [{
        id: 'window-rate',
        title: 'publish throughput by window',
        xTitle,
        unit: 'msg/s',
        better: 'higher',
        baseline: 'raw',
        points: points.map((p) => ({ x: p.window, label: String(p.window), samples: p.rate })),
        note
      }, {
        id: 'window-cpu',
        title: 'publish: client CPU per message by window',
        xTitle,
        unit: 'µs',
        better: 'lower',
        baseline: 'raw',
        points: points.map((p) => ({ x: p.window, label: String(p.window), samples: p.cpu }))
      }]
    }
  } finally {
    await s.app.close()
    await s.conn.close().catch(() => {})
  }
}
