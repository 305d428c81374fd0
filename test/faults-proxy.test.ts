import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import { admin, build, deferred, outcome, proxy, rabbitmqctl, tally, uniqueName, waitFor } from './helpers'

/*
 * Faults injected for real: a TCP proxy that destroys live connections
 * mid-stream, and `rabbitmqctl close_connection` for a clean server close.
 * Broker restarts are in test-faults/ (they run serially).
 */

/**
 * The broker-side pids of an app's connections: the publishing one named
 * `<name>` and the consuming one `<name> (consumers)`. The tab-separated
 * listing prints client properties as an Erlang term, in which the name
 * appears as `{"connection_name","<name>"}`.
 */
async function connectionsNamed (name: string): Promise<string[]> {
  const out = await rabbitmqctl('list_connections', '--no-table-headers', 'pid', 'client_properties')
  return out.split('\n')
    .filter((line) => line.includes(`{"connection_name","${name}"}`) || line.includes(`{"connection_name","${name} (consumers)"}`))
    .map((line) => line.split('\t')[0])
}

t.test('10,000 confirmed publishes through four connection cuts: every publish that resolved is received, and the app publishes after the last cut', async (t) => {
  const TOTAL = 10000
  const WINDOW = 250
  const CUT_AT = [1500, 4000, 6500, 9000]
  const MAX_ATTEMPTS = 20

  const p = await proxy(t)
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)

  // The consumer goes through the proxy too: every cut also drops its channel and its unacked deliveries.
  const received = new Map<string, number>()
  const consumer = await build(t, { url: p.url, exchange, reconnectDelay: 50 }, { ready: false })
  consumer.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    const id = String(msg.properties.messageId)
    received.set(id, (received.get(id) ?? 0) + 1)
  }, { prefetch: 200 })
  await consumer.ready()
  const app = await build(t, { url: p.url, exchange, reconnectDelay: 50 })

  const confirmed = new Set<string>()
  const rejections: string[] = []
  const failures: Error[] = []
  const cuts: Array<{ at: number, inFlight: number, rejectionsBefore: number }> = []
  let started = 0
  let settled = 0
  let next = 0

  const onConfirmed = () => {
    if (cuts.length < CUT_AT.length && confirmed.size >= CUT_AT[cuts.length]) {
      cuts.push({ at: confirmed.size, inFlight: started - settled, rejectionsBefore: rejections.length })
      p.cut()
    }
  }

  // What a user would do: publish, await the confirm, and retry a publish that rejects with a coded error.
  const worker = async () => {
    while (next < TOTAL) {
      const id = `m-${next++}`
      for (let attempt = 1; ; attempt++) {
        started++
        try {
          await app.amqp.publish(key, { id }, { messageId: id })
          settled++
          confirmed.add(id)
          onConfirmed()
          break
        } catch (err: any) {
          settled++
          const coded = typeof err?.code === 'string' && err.code.startsWith('FST_AMQP_')
          if (coded && attempt < MAX_ATTEMPTS) {
            rejections.push(err.code)
            continue
          }
          failures.push(err)
          break
        }
      }
    }
  }
  const publishing = Promise.all(Array.from({ length: WINDOW }, worker))
  const stream = await outcome(publishing, 60000)
  t.equal(stream, 'resolved', 'the publishing stream finished (no publish hung)')
  t.same(failures.map((e: any) => e.code ?? e.message), [], 'no publish failed uncoded or past its retries')
  t.equal(cuts.length, CUT_AT.length, `the proxy cut the connections ${CUT_AT.length} times`)
  for (const [i, cut] of cuts.entries()) {
    const until = cuts[i + 1]?.rejectionsBefore ?? rejections.length
    t.ok(cut.inFlight > 0, `cut ${i + 1} came with ${cut.inFlight} publishes in flight`)
    t.ok(until - cut.rejectionsBefore > 0, `cut ${i + 1} interrupted publishes (${until - cut.rejectionsBefore} rejected, then retried)`)
  }

  const missing = () => [...confirmed].filter((id) => !received.has(id))
  await waitFor('every confirmed message to arrive', () => missing().length === 0, 30000).catch(() => {})
  const lost = missing()
  t.equal(lost.length, 0, `lost = ${lost.length}${lost.length ? ': ' + lost.slice(0, 20).join(', ') : ''}`)
  t.equal(confirmed.size, TOTAL - failures.length, 'every message was confirmed in the end')

  const deliveries = [...received.values()].reduce((a, b) => a + b, 0)
  t.comment(`duplicates: ${deliveries - received.size} (${deliveries} deliveries of ${received.size} distinct messages)`)
  t.comment(`rejected-then-retried publishes: ${rejections.length} ${JSON.stringify(tally(rejections))}`)
  t.comment(`cuts at confirmed counts ${cuts.map((c) => c.at).join(', ')}`)

  // After the last cut the process is up and the same app still publishes and consumes.
  await waitFor('both apps to report healthy', () => app.amqp.health().status === 'ok' && consumer.amqp.health().status === 'ok')
  await app.amqp.publish(key, { id: 'after' }, { messageId: 'after' })
  await waitFor('the message published after the last cut', () => received.has('after'))
  t.pass('a publish after the last cut was confirmed and received')
})

t.test('after rabbitmqctl close_connection the plugin reconnects: its consumer receives again and request() works again', async (t) => {
  const connectionName = uniqueName(t, 'conn')
  const key = uniqueName(t)
  const rpcKey = uniqueName(t, 'rpc')
  const { queues } = await admin(t)
  queues.push(key, rpcKey)
  const app = await build(t, { connectionName, reconnectDelay: 50 }, { ready: false })
  const got: string[] = []
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => { got.push(msg.body) })
  app.amqp.consume(rpcKey, async (msg: WarrenMessage<any>) => msg.body * 2)
  await app.ready()

  await app.amqp.publish(key, 'before')
  await waitFor('the message sent before the close', () => got.includes('before'))
  t.equal(await app.amqp.request(rpcKey, 21), 42, 'request() works before the close')

  const before = await connectionsNamed(connectionName)
  t.equal(before.length, 2, 'the broker lists two connections under the app\'s connectionName: publishing and consuming')
  for (const pid of before) await rabbitmqctl('close_connection', pid, 'fault test: close_connection')

  const after = await waitFor('the app to reconnect both', async () => {
    const now = await connectionsNamed(connectionName)
    return now.length === 2 && now.every((pid) => !before.includes(pid)) ? now : undefined
  })
  t.equal(after.length, 2, 'the app opened two new connections by itself')

  await app.amqp.publish(key, 'after')
  await waitFor('the consumer to receive again', () => got.includes('after'))
  t.same(got, ['before', 'after'], 'the consumer resumed and received the new message')
  t.equal(await app.amqp.request(rpcKey, 50), 100, 'request() works again: the reply consumer resumed')
  await waitFor('the app to report healthy', () => app.amqp.health().status === 'ok')
})

t.test('requests in flight when the connection is cut reject with a coded error or succeed, and none outlives its timeout', async (t) => {
  const TIMEOUT = 3000
  const p = await proxy(t)
  const exchange = uniqueName(t, 'x')
  const rpcKey = uniqueName(t, 'rpc')
  const { queues, exchanges } = await admin(t)
  queues.push(rpcKey); exchanges.push(exchange)

  // The responder connects directly; only the requester's connection is cut.
  const held = deferred()
  const arrived: number[] = []
  const responder = await build(t, { exchange, reconnectDelay: 50 }, { ready: false })
  responder.amqp.consume(rpcKey, async (msg: WarrenMessage<any>) => {
    arrived.push(msg.body.n)
    if (msg.body.hold) await held.promise
    return msg.body.n * 2
  }, { prefetch: 100 })
  await responder.ready()
  const requester = await build(t, { url: p.url, exchange, reconnectDelay: 50 })
  t.equal(await requester.amqp.request(rpcKey, { n: 1 }), 2, 'a request works before the cut')

  // Twenty requests the responder holds (sent, waiting for their reply)...
  const waiting = Array.from({ length: 20 }, (_, i) => requester.amqp.request(rpcKey, { n: 100 + i, hold: true }, { timeout: TIMEOUT }))
  await waitFor('the held requests to reach the responder', () => arrived.filter((n) => n >= 100).length === 20)
  // ...and twenty more still being published when the connection goes.
  const sending = Array.from({ length: 20 }, (_, i) => requester.amqp.request(rpcKey, { n: 200 + i }, { timeout: TIMEOUT }))
  p.cut()
  held.resolve()

  // Generous guard: a request that has not settled well after its timeout has hung.
  const results = await Promise.all([...waiting, ...sending].map((r) => outcome(r, TIMEOUT + 10000)))
  t.comment(`outcomes: ${JSON.stringify(tally(results))}`)
  t.same(results.filter((r) => r === 'hung'), [], 'no request outlived its timeout')
  t.same(results.filter((r) => r.startsWith('uncoded')), [], 'no request failed with an uncoded error')
  t.same(results.slice(0, 20).filter((r) => r === 'resolved'), [], 'a request whose reply was due on the cut connection did not resolve')
  t.same(results.filter((r) => r !== 'resolved' && !/^FST_AMQP_(RPC_INTERRUPTED|RPC_TIMEOUT|PUBLISH_UNCONFIRMED|NOT_CONNECTED)$/.test(r)), [],
    'each failure is FST_AMQP_RPC_INTERRUPTED, _RPC_TIMEOUT, _PUBLISH_UNCONFIRMED or _NOT_CONNECTED')

  t.equal(await requester.amqp.request(rpcKey, { n: 7 }, { timeout: 10000 }), 14, 'request() works again after the reconnection')
})
