import { randomBytes } from 'node:crypto'
import type { ConfirmChannel, Options } from 'amqplib'
import { Admin, alternate, MESSAGE, pick, pluginApp, rawConnect, timed, windowed, type Row } from '../harness'
import type { BenchOptions } from '../options'
import { acmConnectTo, rabbitConnect, rabbitPublish, rabbitPublisher, wrapperPublish, wrapperPublisher } from '../peers'
import { perSecond } from '../stats'

/**
 * The hand-written equivalent of `app.amqp.publish(key, body)`: JSON on a
 * confirm channel, persistent and mandatory like the plugin's defaults, a
 * window of publishes in flight kept full from the confirm callbacks.
 * `extra` adds properties per message; `onConfirm` is told of them on the confirm;
 * `body` is what is encoded for each publish.
 */
export function rawPublishMany (
  ch: ConfirmChannel,
  exchange: string,
  key: string,
  total: number,
  inFlight: number,
  extra: () => Options.Publish = () => ({}),
  onConfirm?: (props: Options.Publish) => void,
  body: unknown = MESSAGE
): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0
    let confirmed = 0
    let failed = false
    const one = (): void => {
      sent++
      const content = Buffer.from(JSON.stringify(body))
      const props = extra()
      ch.publish(exchange, key, content, { persistent: true, mandatory: true, contentType: 'application/json', ...props }, (err) => {
        onConfirm?.(props)
        if (failed) return
        if (err) {
          failed = true
          return reject(err)
        }
        if (++confirmed === total) resolve()
        else if (sent < total) one()
      })
    }
    if (total === 0) return resolve()
    for (let i = 0; i < Math.min(inFlight, total); i++) one()
  })
}

/**
 * Scenario 1: confirmed publishes, many in flight, to a transient queue
 * through a topic exchange: the plugin, raw amqplib, and the peers
 * (rabbitmq-client's Publisher, amqp-connection-manager's ChannelWrapper)
 * with the same guarantees.
 */
export async function publishScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<Row[]> {
  const exchange = await admin.exchange('x')
  const queue = await admin.queue('publish', { exchange })
  const app = await pluginApp(opts.url, { exchange })
  const conn = await rawConnect(opts.url)
  const rabbit = await rabbitConnect(opts.url)
  const manager = await acmConnectTo(opts.url)
  const rc = rabbitPublisher(rabbit)
  const cw = await wrapperPublisher(manager)
  try {
    const ch = await conn.createConfirmChannel()
    let returned = 0
    ch.on('return', () => { returned++ })

    // The plugin's messages carry message_id, timestamp and app_id, which cost
    // the broker time of its own: this raw variant sends them too.
    let sent = 0
    const prefix = randomBytes(9).toString('base64url')
    const sameProperties = (): Options.Publish => ({ messageId: prefix + (++sent).toString(36), timestamp: Math.floor(Date.now() / 1000), appId: 'fastify-warren' })
    const impls = {
      plugin: (n: number) => windowed(n, opts.window, () => app.amqp.publish(queue, MESSAGE)),
      raw: (n: number) => rawPublishMany(ch, exchange, queue, n, opts.window),
      rawSame: (n: number) => rawPublishMany(ch, exchange, queue, n, opts.window, sameProperties),
      'rabbitmq-client': (n: number) => windowed(n, opts.window, () => rabbitPublish(rc.pub, exchange, queue)),
      'channel-wrapper': (n: number) => windowed(n, opts.window, () => wrapperPublish(cw.cw, exchange, queue))
    }
    const round = (run: (n: number) => Promise<void>) => async () => {
      await admin.purge(queue)
      const t = await timed(() => run(opts.messages))
      return { rate: perSecond(opts.messages, t.ms), cpu: t.cpuUs / opts.messages }
    }
    // Warm-up: the JIT and the broker's queue process get going, untimed.
    for (const run of Object.values(impls)) await run(Math.max(100, opts.messages / 10))
    const results = await alternate(opts.rounds, Object.fromEntries(Object.entries(impls).map(([name, run]) => [name, round(run)])), log)
    for (const [who, count] of [['raw', returned], ['rabbitmq-client', rc.returned()], ['channel-wrapper', cw.returned()]] as const) {
      if (count > 0) throw new Error(`${who} publisher: ${count} messages returned as unroutable`)
    }
    return [{
      id: 'publish',
      title: `publish, confirms awaited, ${opts.window} in flight`,
      unit: 'msg/s',
      better: 'higher',
      samples: pick(results, 'rate'),
      baseline: 'raw',
      goal: { ratioAtLeast: 1.0 },
      note: 'rawSame: raw amqplib also sending message_id, timestamp and app_id; rabbitmq-client: createPublisher({ confirm: true }), send({ mandatory: true, durable: true }); channel-wrapper: amqp-connection-manager createChannel({ confirm: true, json: true }), publish({ persistent: true, mandatory: true })'
    }, {
      id: 'publish-same-properties',
      title: 'publish vs raw sending the same properties (info)',
      unit: 'msg/s',
      better: 'higher',
      samples: { plugin: results.plugin.map((r) => r.rate), raw: results.rawSame.map((r) => r.rate) },
      baseline: 'raw',
      note: 'raw here sets message_id (an id of the same form), timestamp and app_id, as every plugin message does'
    }, {
      id: 'publish-cpu',
      title: 'publish: client CPU per message',
      unit: 'µs',
      better: 'lower',
      samples: pick(results, 'cpu'),
      baseline: 'raw',
      goal: { ratioAtMost: 1.05 }
    }, {
      id: 'publish-cpu-same-properties',
      title: 'publish: client CPU per message vs raw sending the same properties (info)',
      unit: 'µs',
      better: 'lower',
      samples: { plugin: results.plugin.map((r) => r.cpu), raw: results.rawSame.map((r) => r.cpu) },
      baseline: 'raw',
      note: 'what amqplib spends encoding message_id, timestamp and app_id is in both columns here'
    }]
  } finally {
    await app.close()
    await conn.close().catch(() => {})
    await rc.pub.close().catch(() => {})
    await rabbit.close().catch(() => {})
    await cw.cw.close().catch(() => {})
    await manager.close().catch(() => {})
  }
}
