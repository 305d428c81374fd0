import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import { execFileSync } from 'node:child_process'
import { admin, build, collector, deferred, rabbitmqctl, uniqueName, waitFor } from '../test/helpers'

/*
 * Raises a memory alarm on the whole broker (`set_vm_memory_high_watermark 0`),
 * which blocks every publishing connection, so it runs serially in its own
 * script: `npm run test:faults`. The watermark is always put back.
 */

let watermark = '0.4'
let alarmed = false

async function alarmOn (): Promise<void> {
  const current = (await rabbitmqctl('eval', 'vm_memory_monitor:get_vm_memory_high_watermark().')).trim()
  if (/^[0-9.]+$/.test(current)) watermark = current
  alarmed = true
  await rabbitmqctl('set_vm_memory_high_watermark', '0')
}

async function alarmOff (): Promise<void> {
  if (!alarmed) return
  await rabbitmqctl('set_vm_memory_high_watermark', watermark)
  alarmed = false
}

// Last resort, if the process ends while the alarm is on.
process.on('exit', () => {
  if (alarmed) {
    execFileSync('rabbitmqctl', ['-q', 'set_vm_memory_high_watermark', watermark], {
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
      stdio: 'ignore'
    })
  }
})

t.test('while the broker blocks publishing, publishes wait and health() says blocked; they are confirmed once it resumes, and one that outlives its timeout rejects with FST_AMQP_BLOCKED and is never sent', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const side = uniqueName(t, 'side')
  const { ch, queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange, side)
  await ch.assertExchange(side, 'fanout', { durable: false })
  const consumer = await build(t, { exchange }, { ready: false })
  const got: number[] = []
  consumer.amqp.consume(key, async (msg: WarrenMessage<any>) => { got.push(msg.body.n) }, { prefetch: 1 })
  await consumer.ready()
  const app = await build(t, { exchange })
  await app.amqp.publish(key, { n: 0 })
  // Registered last, so it runs first: the apps close with the alarm off.
  t.teardown(alarmOff)

  await alarmOn()
  // The broker tells a connection it is blocked when it next publishes: this one goes out, and waits for its confirm.
  const first = app.amqp.publish(key, { n: 1 }, { timeout: 60000 })
  await waitFor('the app to see the connection blocked', () => app.amqp.health().blocked)
  t.match(app.amqp.health(), { status: 'degraded', connected: true, blocked: true }, 'health() says connected but blocked')

  const held = app.amqp.publish(key, { n: 2 }, { timeout: 60000 })
  t.equal(app.amqp.health().buffered, 1, 'a publish made while blocked waits in the buffer')
  const late: any = await app.amqp.publish(key, { n: 3 }, { timeout: 300 }).catch((e) => e)
  t.equal(late.code, 'FST_AMQP_BLOCKED', 'one that outlives its timeout rejects with FST_AMQP_BLOCKED')
  t.equal(late.statusCode, 503)
  t.ok(late.headers?.['retry-after'], 'with a Retry-After header')
  t.match(late.message, /blocks publishing \(.+\)/, 'naming the broker\'s reason')
  // The first publish to an exchange the app has not used yet checks it on a new channel, which a blocked connection never opens.
  const unchecked: any = await app.amqp.publish(key, { n: 4 }, { exchange: side, timeout: 300 }).catch((e) => e)
  t.equal(unchecked.code, 'FST_AMQP_BLOCKED', 'a publish to an exchange not checked yet rejects within its timeout too')

  await alarmOff()
  await t.resolves(first, 'the publish sent before the block was confirmed once the broker resumed')
  await t.resolves(held, 'the held publish went out and was confirmed')
  await waitFor('the consumer to get both', () => got.length >= 3)
  t.same(got, [0, 1, 2], 'the consumer got them in order, and never the timed-out one')
  await waitFor('health to say ok', () => app.amqp.health().status === 'ok')
})

t.test('while the broker blocks an app\'s publishing, the same app\'s consumers go on acking: their connection is not the blocked one', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)
  const app = await build(t, { exchange }, { ready: false })
  const gate = deferred()
  const started = collector<number>(5)
  const finished: number[] = []
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    started.push(msg.body.n)
    await gate.promise
    finished.push(msg.body.n)
  }, { prefetch: 10 })
  await app.ready()
  for (let n = 0; n < 5; n++) await app.amqp.publish(key, { n })
  await started.done
  t.teardown(alarmOff)

  await alarmOn()
  const blockedPublish = app.amqp.publish(key, { n: 5 }, { timeout: 60000 })
  await waitFor('the app to see its publishing blocked', () => app.amqp.health().blocked)
  gate.resolve()
  await waitFor('the five handlers to finish', () => finished.length === 5)
  const unacked = async () => {
    const out = await rabbitmqctl('list_queues', '--no-table-headers', 'name', 'messages_unacknowledged')
    return out.split('\n').find((line) => line.startsWith(key + '\t'))?.split('\t')[1]
  }
  await waitFor('the broker to take the five acks while the alarm is on', async () => (await unacked()) === '0')
  t.ok(app.amqp.health().blocked, 'the alarm was still on when the acks were taken')
  await alarmOff()
  await t.resolves(blockedPublish, 'and the blocked publish is confirmed once it is over')
})
