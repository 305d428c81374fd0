import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import { execFileSync } from 'node:child_process'
import amqplib from 'amqplib'
import { AMQP_URL, build, deferred, rabbitmqctl, tally, uniqueName, waitFor, withRetryQueues } from '../test/helpers'

/*
 * Stops the broker itself (`rabbitmqctl stop_app`), so it runs serially in its
 * own script: `npm run test:faults`. The broker is always started again, even
 * when the test fails or the process exits early.
 */

const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` }

let stopped = false
let starting: Promise<void> | undefined

/** Starts the broker's application and waits until it answers. Safe to call any number of times. */
function brokerUp (): Promise<void> {
  starting ??= (async () => {
    await rabbitmqctl('start_app')
    await rabbitmqctl('await_startup', '--timeout', '120')
    stopped = false
  })().finally(() => { starting = undefined })
  return starting
}

async function brokerDown (): Promise<void> {
  stopped = true
  await rabbitmqctl('stop_app')
}

// Last resort, if the process ends (a crash, tap's timeout) while the broker is stopped.
process.on('exit', () => {
  if (stopped) execFileSync('rabbitmqctl', ['-q', 'start_app'], { env, stdio: 'ignore' })
})

/** Resolves or rejects with `p`, or rejects after `ms` naming `what`. */
async function guard<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

/** Deletes what the test declared, on a fresh connection (the test's own ones died with the broker). */
async function deleteTopology (queues: string[], exchanges: string[]): Promise<void> {
  const conn = await amqplib.connect(AMQP_URL)
  try {
    const ch = await conn.createChannel()
    for (const q of queues.flatMap(withRetryQueues)) await ch.deleteQueue(q)
    for (const x of exchanges) await ch.deleteExchange(x)
  } finally {
    await conn.close().catch(() => {})
  }
}

t.test('across a broker restart (stop_app, start_app) nothing confirmed is lost, the consumer resumes by itself, and publish() and request() work again without restarting the apps', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const rpcKey = uniqueName(t, 'rpc')
  // Registered first, so it runs last: after the apps have closed, with the broker up again.
  t.teardown(() => deleteTopology([key, rpcKey], [exchange]))

  // The consumer holds the first messages it gets (unacked) until the broker is down;
  // the rest wait in the durable queue through the restart.
  const gate = deferred()
  const received = new Map<string, number>()
  const consumer = await build(t, { exchange, reconnectDelay: 200 }, { ready: false })
  consumer.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    const id = String(msg.properties.messageId)
    received.set(id, (received.get(id) ?? 0) + 1)
    if (id.startsWith('before-')) await gate.promise
  }, { prefetch: 10 })
  consumer.amqp.consume(rpcKey, async (msg: WarrenMessage<any>) => msg.body * 2)
  await consumer.ready()
  const publisher = await build(t, { exchange, reconnectDelay: 200 })
  // Registered last, so it runs first: the apps close against a running broker.
  t.teardown(brokerUp)

  let streaming = false
  try {
    t.equal(await publisher.amqp.request(rpcKey, 1), 2, 'request() works before the restart')

    // 1. Persistent messages to a durable queue, each confirmed before the broker stops.
    const confirmed = new Set<string>()
    await Promise.all(Array.from({ length: 500 }, async (_, i) => {
      const id = `before-${i}`
      await publisher.amqp.publish(key, { id }, { messageId: id, persistent: true })
      confirmed.add(id)
    }))
    await waitFor('the consumer to hold its first messages', () => received.size >= 1)
    const depth = await rabbitmqctl('list_queues', '--no-table-headers', 'name', 'messages')
    t.comment(`before stop_app: ${depth.split('\n').find((line) => line.startsWith(key + '\t'))}`)

    // 2. A stream of publishes, each retried on a coded error as a user would, runs across the restart.
    const rejections: string[] = []
    const failures: Error[] = []
    let next = 0
    streaming = true
    const worker = async () => {
      // eslint-disable-next-line no-unmodified-loop-condition -- cleared once the broker is back
      while (streaming) {
        const id = `during-${next++}`
        for (let attempt = 1; ; attempt++) {
          try {
            await publisher.amqp.publish(key, { id }, { messageId: id, persistent: true })
            confirmed.add(id)
            break
          } catch (err: any) {
            const coded = typeof err?.code === 'string' && err.code.startsWith('FST_AMQP_')
            if (coded && attempt < 10) {
              rejections.push(err.code)
              continue
            }
            failures.push(err)
            break
          }
        }
      }
    }
    const stream = Promise.all(Array.from({ length: 20 }, worker))
    await waitFor('the stream to be under way', () => [...confirmed].filter((id) => id.startsWith('during-')).length >= 200)

    // 3. The broker stops and starts again; the apps stay up.
    await brokerDown()
    await waitFor('both apps to see the broker gone', () => !publisher.amqp.health().connected && !consumer.amqp.health().connected)
    const confirmedAtStop = confirmed.size
    gate.resolve() // the held handlers finish; their acks are for a dead channel, so the broker redelivers
    // Calls made while the broker is down wait for it, within their timeouts.
    const outagePublish = publisher.amqp.publish(key, { id: 'outage' }, { messageId: 'outage', persistent: true, timeout: 60000 })
    const outageRequest = publisher.amqp.request(rpcKey, 5, { timeout: 60000 })
    for (const call of [outagePublish, outageRequest]) call.catch(() => {}) // awaited below; no unhandled rejection if the test fails first
    await brokerUp()
    t.pass('the broker is up again')
    await outagePublish
    confirmed.add('outage')
    t.pass('a publish made while the broker was down resolved once it was back')
    t.equal(await outageRequest, 10, 'a request made while the broker was down got its reply once it was back')

    // 4. The publishing app publishes again by itself.
    await waitFor('the stream to publish again after the restart', () => confirmed.size >= confirmedAtStop + 200, 60000)
    streaming = false
    await guard(stream, 30000, 'the stream to stop (a publish hung)')
    t.same(failures.map((e: any) => e.code ?? e.message), [], 'no publish failed uncoded or past its retries')
    for (let i = 0; i < 50; i++) {
      const id = `after-${i}`
      await publisher.amqp.publish(key, { id }, { messageId: id, persistent: true })
      confirmed.add(id)
    }
    t.pass('publish() resolves after the restart, in the app that stayed up')
    t.equal(await publisher.amqp.request(rpcKey, 21, { timeout: 10000 }), 42, 'request() works again: reply consumer and responder resumed')

    // 5. The consumer that stayed up receives everything confirmed: before, across and after the restart.
    const missing = () => [...confirmed].filter((id) => !received.has(id))
    await waitFor('every confirmed message to arrive', () => missing().length === 0, 60000).catch(() => {})
    const lost = missing()
    t.equal(lost.length, 0, `lost = ${lost.length}${lost.length ? ': ' + lost.slice(0, 20).join(', ') : ''}`)
    await waitFor('both apps to report healthy', () => publisher.amqp.health().status === 'ok' && consumer.amqp.health().status === 'ok')
    t.pass('both apps report healthy')

    const deliveries = [...received.values()].reduce((a, b) => a + b, 0)
    t.comment(`confirmed: ${confirmed.size}; duplicates: ${deliveries - received.size} (${deliveries} deliveries of ${received.size} distinct messages)`)
    t.comment(`rejected-then-retried publishes: ${rejections.length} ${JSON.stringify(tally(rejections))}`)
  } finally {
    streaming = false
    gate.resolve()
    await brokerUp()
  }
})

t.test('a message waiting in a wait queue for its retry survives a broker restart and is tried again after it', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  t.teardown(() => deleteTopology([key], [exchange]))
  const tries: number[] = []
  const retried = deferred()
  const app = await build(t, { exchange, reconnectDelay: 200, reconnectDelayMax: 1000 }, { ready: false })
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    tries.push(msg.attempt)
    if (msg.attempt === 1) throw new Error('fails the first time')
    retried.resolve()
  }, { retry: { attempts: 2, delay: 3000, jitter: 0 } })
  await app.ready()
  t.teardown(brokerUp)
  try {
    await app.amqp.publish(key, { job: 1 }, { persistent: true })
    await waitFor('the message to wait in the wait queue', async () => {
      const out = await rabbitmqctl('list_queues', '--no-table-headers', 'name', 'messages')
      return out.split('\n').some((line) => line === `${key}.retry.1\t1`)
    })
    await brokerDown()
    await brokerUp()
    await guard(retried.promise, 60000, 'the second try after the restart')
    t.same(tries, [1, 2], 'tried once before the restart and once after it')
  } finally {
    await brokerUp()
  }
})
