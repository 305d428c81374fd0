import t from 'tap'
import warren, { noRetry, type WarrenMessage } from '../lib/index'
import { AMQP_URL, admin, appWithLog, build, collector, rabbitmqctl, uniqueName, waitFor, ON_MEMORY } from './helpers'

t.test('a handler that fails twice and then succeeds is tried three times, each retry after its delay, and seen with its original routing key and message id', async (t) => {
  const key = uniqueName(t)
  const { queues, depth } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  const tries = collector<{ at: number, msg: WarrenMessage }>(3)
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    tries.push({ at: Date.now(), msg })
    if (msg.attempt < 3) throw new Error(`try ${msg.attempt} fails`)
  }, { retry: { attempts: 3, delay: 300, factor: 2, jitter: 0 } })
  await app.ready()
  const { messageId } = await app.amqp.publish(key, { n: 1 }, { headers: { tenant: 'acme' } })
  const seen = await tries.done

  t.same(seen.map((s) => s.msg.attempt), [1, 2, 3], 'attempts 1, 2 and 3')
  // Lower bounds only: the broker holds each retry at least its delay (300 ms, then 600 ms).
  t.ok(seen[1].at - seen[0].at >= 280, `the first retry waited ${seen[1].at - seen[0].at} ms (delay 300)`)
  t.ok(seen[2].at - seen[1].at >= 570, `the second retry waited ${seen[2].at - seen[1].at} ms (delay 600)`)
  for (const { msg } of seen) {
    t.equal(msg.routingKey, key, `try ${msg.attempt} sees the routing key it was published with`)
    t.equal(msg.properties.messageId, messageId, `try ${msg.attempt} has the same message id`)
    t.same(msg.body, { n: 1 })
    t.equal(msg.headers.tenant, 'acme', `try ${msg.attempt} keeps the application headers`)
  }
  t.equal(seen[0].msg.exchange, seen[2].msg.exchange, 'and the exchange it was published to')

  await app.close()
  t.equal(await depth(key), 0, 'acked after the third try: nothing left in the queue')
  t.equal(await depth(`${key}.retry.1`), 0, 'nor in the first wait queue')
  t.equal(await depth(`${key}.retry.2`), 0, 'nor in the second')
  t.equal(await depth(`${key}.dlq`), 0, 'nor in the dead-letter queue')
})

t.test('a handler that always fails ends in the dead-letter queue after the configured attempts, with the reason, the error, the attempts and where it was published', async (t) => {
  const key = uniqueName(t)
  const { queues, depth, drain } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  const attempts: number[] = []
  let publishedTo = ''
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    attempts.push(msg.attempt)
    publishedTo = msg.exchange
    throw Object.assign(new Error('the payment service said no'), { code: 'E_PAYMENT' })
  }, { retry: { attempts: 4, delay: 20, jitter: 0 } })
  await app.ready()
  const { messageId } = await app.amqp.publish(key, { order: 7 })

  const [dead] = await waitFor('the message in the dead-letter queue', async () => {
    const got = await drain(`${key}.dlq`)
    return got.length > 0 ? got : undefined
  })
  t.same(attempts, [1, 2, 3, 4], 'tried exactly four times, never more')
  t.same(JSON.parse(dead.content.toString()), { order: 7 }, 'the original body')
  t.equal(dead.properties.messageId, messageId)
  t.equal(dead.properties.deliveryMode, 2, 'persistent in the dead-letter queue')
  t.match(dead.properties.headers, {
    'x-warren-reason': 'handler-failed',
    'x-warren-error-message': 'the payment service said no',
    'x-warren-error-code': 'E_PAYMENT',
    'x-warren-attempts': 4,
    'x-warren-queue': key,
    'x-warren-routing-key': key,
    'x-warren-exchange': publishedTo,
    'x-warren-failed-at': /^\d{4}-\d\d-\d\dT/
  })
  await app.close()
  t.same(attempts, [1, 2, 3, 4], 'and no try after it went to the dead-letter queue')
  t.equal(await depth(key), 0, 'the queue is empty')
})

t.test('an error marked with noRetry() goes to the dead-letter queue at once', async (t) => {
  const key = uniqueName(t)
  const { queues, take } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  const attempts: number[] = []
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    attempts.push(msg.attempt)
    throw noRetry(new Error('unknown product'))
  })
  await app.ready()
  await app.amqp.publish(key, { sku: 'nope' })
  const dead = await waitFor('the message in the dead-letter queue', () => take(`${key}.dlq`))
  t.same(attempts, [1], 'tried once')
  t.match(dead.properties.headers, { 'x-warren-reason': 'not-retryable', 'x-warren-attempts': 1, 'x-warren-error-message': 'unknown product' })
})

t.test('with retry: false and deadLetter: false a failed message is rejected once and gone: no loop, no queue declared for it', async (t) => {
  const key = uniqueName(t)
  const { queues, exists, depth } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  const attempts: number[] = []
  const sentinel = collector<boolean>(1)
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    if (msg.body.sentinel) return sentinel.push(true)
    attempts.push(msg.attempt)
    throw new Error('boom')
  }, { retry: false, deadLetter: false, prefetch: 1 })
  await app.ready()
  await app.amqp.publish(key, { doomed: true })
  await app.amqp.publish(key, { sentinel: true })
  await sentinel.done
  await app.close()
  t.same(attempts, [1], 'tried once')
  t.equal(await depth(key), 0, 'nothing left in the queue to loop on')
  t.notOk(await exists(`${key}.dlq`), 'no dead-letter queue')
  t.notOk(await exists(`${key}.retry.1`), 'no wait queue')
})

t.test('a retry goes back only to the queue that failed, not to the other queues bound to the same key', async (t) => {
  const exchange = uniqueName(t, 'fanout')
  const failing = uniqueName(t, 'failing')
  const fine = uniqueName(t, 'fine')
  const { queues, exchanges } = await admin(t)
  queues.push(failing, fine); exchanges.push(exchange)
  const app = await build(t, { exchanges: { [exchange]: 'fanout' } }, { ready: false })
  const failingTries = collector<number>(2)
  const fineGot: number[] = []
  app.amqp.consume('', async (msg: WarrenMessage<any>) => {
    failingTries.push(msg.attempt)
    if (msg.attempt === 1) throw new Error('first try fails')
  }, { exchange, queue: failing, retry: { attempts: 2, delay: 20 } })
  app.amqp.consume('', async (msg: WarrenMessage<any>) => { fineGot.push(msg.attempt) }, { exchange, queue: fine })
  await app.ready()
  await app.amqp.publish('', { n: 1 }, { exchange })
  t.same(await failingTries.done, [1, 2], 'the failing subscriber got its retry')
  t.same(fineGot, [1], 'the other subscriber got the event exactly once')
})

t.test('a message waiting for its retry is kept by the broker: a new instance of the service tries it after the first one has closed', async (t) => {
  const key = uniqueName(t)
  const { queues, depth } = await admin(t)
  queues.push(key)
  const first = await build(t, {}, { ready: false })
  const failed = collector<number>(1)
  first.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    failed.push(msg.attempt)
    throw new Error('down for maintenance')
  }, { retry: { attempts: 2, delay: 1500, jitter: 0 } })
  await first.ready()
  await first.amqp.publish(key, { job: 1 })
  await failed.done
  await first.close()
  t.equal(await depth(`${key}.retry.1`), 1, 'the message waits in the wait queue while no instance runs')

  const second = await build(t, {}, { ready: false })
  const retried = collector<WarrenMessage>(1, 15000)
  second.amqp.consume(key, async (msg: WarrenMessage<any>) => { retried.push(msg) }, { retry: { attempts: 2, delay: 1500, jitter: 0 } })
  await second.ready()
  const [msg] = await retried.done
  t.equal(msg.attempt, 2, 'the new instance gets it as the second try')
  t.same(msg.body, { job: 1 })
})

t.test('an exclusive consumer retries through a wait queue of its own and rejects after its last attempt when no dead-letter queue is named', async (t) => {
  const app = await build(t, {}, { ready: false })
  const key = uniqueName(t)
  const tries = collector<number>(2)
  const sentinel = collector<boolean>(1)
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    if (msg.body.sentinel) return sentinel.push(true)
    tries.push(msg.attempt)
    throw new Error('nope')
  }, { exclusive: true, retry: { attempts: 2, delay: 20 } })
  await app.ready()
  await app.amqp.publish(key, { n: 1 })
  t.same(await tries.done, [1, 2])
  await app.amqp.publish(key, { sentinel: true })
  await sentinel.done
  t.same(tries.values, [1, 2], 'no third try')
})

t.test('1,000 poison messages among 1,000 good ones: every poison message is in the dead-letter queue with its reason, every good one is handled once, and none is delivered twice', async (t) => {
  const key = uniqueName(t)
  const { ch, queues, depth, drain } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  const handled = new Map<number, number>()
  const good = collector<number>(1000, 60000)
  let handlerCalls = 0
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    handlerCalls++
    handled.set(msg.body.n, (handled.get(msg.body.n) ?? 0) + 1)
    good.push(msg.body.n)
  }, { prefetch: 50 })
  await app.ready()

  // Three kinds of poison: JSON that does not parse, an unknown content encoding, and a body that claims JSON but is binary.
  const poison = [
    { content: Buffer.from('{"n": '), contentType: 'application/json' },
    { content: Buffer.from('{"n": 1}'), contentType: 'application/json', contentEncoding: 'gzip' },
    { content: Buffer.from([0xff, 0xfe, 0x00, 0x7b]), contentType: 'application/json' }
  ]
  const publishes: Array<Promise<unknown>> = []
  for (let i = 0; i < 1000; i++) {
    publishes.push(app.amqp.publish(key, { n: i }))
    const p = poison[i % poison.length]
    // Published raw, the way a foreign client would, so the encoding can be anything.
    ch.publish('', key, p.content, { contentType: p.contentType, contentEncoding: p.contentEncoding, messageId: `poison-${i}`, persistent: true })
  }
  await Promise.all(publishes)
  await good.done
  const dead = await waitFor('1,000 messages in the dead-letter queue', async () => (await depth(`${key}.dlq`)) >= 1000 ? true : undefined, 60000)
  t.ok(dead)
  await app.close()

  const letters = await drain(`${key}.dlq`)
  t.equal(letters.length, 1000, 'every poison message is in the dead-letter queue, once')
  t.equal(new Set(letters.map((m) => m.properties.messageId)).size, 1000, 'each a different one')
  t.ok(letters.every((m) => m.properties.headers?.['x-warren-reason'] === 'undecodable'), 'each with reason undecodable')
  t.ok(letters.every((m) => /decode/i.test(String(m.properties.headers?.['x-warren-error-message']))), 'and the decoding error')
  t.ok(letters.every((m) => m.properties.headers?.['x-warren-attempts'] === 1), 'none was tried again')
  t.equal(handlerCalls, 1000, 'the handler ran once per good message and never for poison')
  t.ok([...handled.values()].every((count) => count === 1), 'no good message was delivered twice')
  t.equal(await depth(key), 0, 'nothing left in the queue')
})

t.test('queueArguments declare the consumer\'s queue with them: a quorum queue with a delivery limit gives up on a message that keeps coming back unhandled', async (t) => {
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  // Each app holds the message until it is closed (as a crash would), so the broker delivers it again.
  const deliveries: boolean[] = []
  for (let run = 0; run < 3; run++) {
    const app = await build(t, { closeTimeout: 100 }, { ready: false })
    const got = collector<boolean>(1, 5000)
    app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
      deliveries.push(msg.redelivered)
      got.push(true)
      await new Promise(() => {})
    }, { queueArguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 1 } })
    await app.ready()
    if (run === 0) await app.amqp.publish(key, { poison: true })
    const arrived = await got.done.then(() => true, () => false)
    await app.close()
    if (!arrived) break
  }
  t.same(deliveries, [false, true], 'delivered once, redelivered once, then dropped by the broker at the delivery limit')
  t.equal((await ch.checkQueue(key)).messageCount, 0, 'and no longer in the queue')
  const info = await ch.checkQueue(key)
  t.ok(info, 'the queue exists as declared')
})

t.test('a pipeline result over maxMessageSize goes to the dead-letter queue, and a reply over it reaches the requester as a remote error', async (t) => {
  const key = uniqueName(t)
  const rpcKey = uniqueName(t, 'rpc')
  const { queues, take } = await admin(t)
  queues.push(key, rpcKey)
  const app = await build(t, { maxMessageSize: 1024 }, { ready: false })
  app.amqp.consume(key, async () => 'x'.repeat(2048), { next: uniqueName(t, 'next') })
  app.amqp.consume(rpcKey, async () => 'y'.repeat(2048))
  await app.ready()
  await app.amqp.publish(key, 'small')
  const dead = await waitFor('the message in the dead-letter queue', () => take(`${key}.dlq`))
  t.match(dead.properties.headers, { 'x-warren-reason': 'unencodable-result', 'x-warren-error-code': 'FST_AMQP_MESSAGE_TOO_LARGE' })
  await t.rejects(app.amqp.request(rpcKey, 'small'), { code: 'FST_AMQP_RPC_REMOTE_ERROR', remote: { code: 'FST_AMQP_MESSAGE_TOO_LARGE' } })
})

t.test('a failed message whose copy the dead-letter queue refuses stays unacked and the copy is tried again, without running the handler again', { skip: ON_MEMORY && 'sets a RabbitMQ policy with rabbitmqctl' }, async (t) => {
  const key = uniqueName(t)
  const { ch, queues, take } = await admin(t)
  queues.push(key)
  // A policy (not queue arguments, which would conflict with the consumer's declaration) makes the dead-letter queue refuse every copy.
  const policy = uniqueName(t, 'policy')
  await rabbitmqctl('set_policy', '--apply-to', 'queues', policy, `^${key.replace(/\./g, '\\.')}\\.dlq$`, '{"max-length":0,"overflow":"reject-publish"}')
  t.teardown(() => rabbitmqctl('clear_policy', policy).catch(() => {}))
  const { app, lines } = appWithLog()
  t.teardown(() => app.close())
  const exchange = uniqueName(t, 'x')
  const { exchanges } = await admin(t)
  exchanges.push(exchange)
  await app.register(warren, { url: AMQP_URL, exchange, reconnectDelay: 50, reconnectDelayMax: 200 })
  let runs = 0
  app.amqp.consume(key, async () => {
    runs++
    throw new Error('always fails')
  }, { retry: false })
  await app.ready()
  await app.amqp.publish(key, { n: 1 })
  const refused = () => lines.filter((l) => l.includes('could not be moved; trying again')).length
  await waitFor('the copy to be refused four times', () => refused() >= 4)
  t.equal(runs, 1, `the handler ran once, while the copy was refused ${refused()} times`)
  t.equal(app.amqp.health().status, 'degraded', 'health() is degraded meanwhile')
  t.match(app.amqp.health().consumers.list, [{ queue: key, running: true, reason: /cannot be moved/, error: { code: 'FST_AMQP_PUBLISH_NACKED' } }], 'and says which consumer cannot move its failed messages, and why')
  await rabbitmqctl('clear_policy', policy)
  const dead = await waitFor('the copy in the dead-letter queue once it takes it', () => take(`${key}.dlq`))
  t.match(dead.properties.headers, { 'x-warren-reason': 'handler-failed' })
  t.equal(runs, 1, 'still one run')
  await app.close()
  t.equal((await ch.checkQueue(key)).messageCount, 0, 'and the original was acked')
})
