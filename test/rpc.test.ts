import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import { admin, build, collector, deferred, uniqueName, waitFor } from './helpers'

async function rpcApp (t: any, handlers: Record<string, (msg: any) => unknown>) {
  const exchange = uniqueName(t, 'x')
  const { queues, exchanges, ch } = await admin(t)
  exchanges.push(exchange)
  const app = await build(t, { exchange }, { ready: false })
  const keys: Record<string, string> = {}
  for (const [name, handler] of Object.entries(handlers)) {
    keys[name] = uniqueName(t, name)
    queues.push(keys[name])
    app.amqp.consume(keys[name], handler as any)
  }
  await app.ready()
  return { app, keys, ch, exchange }
}

t.test('request() resolves with the value the remote handler returns', async (t) => {
  const { app, keys } = await rpcApp(t, { add: async (msg: WarrenMessage<any>) => msg.body.a + msg.body.b })
  t.equal(await app.amqp.request<number>(keys.add, { a: 1, b: 2 }, { timeout: 2000 }), 3)
})

t.test('concurrent requests each get their own reply', async (t) => {
  const { app, keys } = await rpcApp(t, {
    square: async (msg: WarrenMessage<any>) => {
      // Finish out of order.
      await new Promise((resolve) => setTimeout(resolve, (msg.body % 5) * 3))
      return msg.body * msg.body
    }
  })
  const inputs = Array.from({ length: 50 }, (_, i) => i)
  const replies = await Promise.all(inputs.map((n) => app.amqp.request<number>(keys.square, n)))
  t.same(replies, inputs.map((n) => n * n))
})

t.test('request() rejects with FST_AMQP_RPC_TIMEOUT (504) when no reply comes in time', async (t) => {
  const release = collector<boolean>(1)
  const { app, keys } = await rpcApp(t, {
    slow: async () => { await release.done.catch(() => {}); return 'late' }
  })
  await t.rejects(app.amqp.request(keys.slow, {}, { timeout: 200 }), { code: 'FST_AMQP_RPC_TIMEOUT', statusCode: 504 })
  release.push(true) // the late reply is dropped quietly
})

t.test('a request nobody took before its timeout expires in the queue and is never executed', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { ch, queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)
  const app = await build(t, { exchange })
  // The serving queue exists but its service is down.
  await ch.assertExchange(exchange, 'topic', { durable: true })
  await ch.assertQueue(key, { durable: true })
  await ch.bindQueue(key, exchange, key)
  await t.rejects(app.amqp.request(key, { stale: true }, { timeout: 150 }), { code: 'FST_AMQP_RPC_TIMEOUT' })

  // The broker's clock for the expiry starts when the request reaches the
  // queue, a moment after the requester's: wait until it has dropped it.
  await waitFor('the broker to drop the stale request', async () => (await ch.checkQueue(key)).messageCount === 0)

  // The service comes back after the expiry: the stale request is gone.
  const executed: unknown[] = []
  const served = collector<unknown>(1)
  const server = await build(t, { exchange })
  server.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    if (msg.body.fresh) served.push(msg.body)
    else executed.push(msg.body)
    return 'ok'
  })
  t.equal(await app.amqp.request(key, { fresh: true }), 'ok')
  await served.done
  t.same(executed, [], 'the stale request was not executed')
})

t.test('a remote handler that throws rejects the request with FST_AMQP_RPC_REMOTE_ERROR carrying the remote message', async (t) => {
  const { app, keys } = await rpcApp(t, {
    fail: async () => { const e: any = new Error('out of stock'); e.code = 'E_STOCK'; throw e }
  })
  const err: any = await app.amqp.request(keys.fail, {}).catch((e) => e)
  t.equal(err.code, 'FST_AMQP_RPC_REMOTE_ERROR')
  t.match(err.message, /out of stock/)
  t.same(err.remote, { message: 'out of stock', code: 'E_STOCK' })
  t.match(err.stack, /--- request\(\) awaited at ---[\s\S]*at async [^\n]*rpc\.test\.ts/, 'the stack points back at the code awaiting the request')
})

t.test('a remote handler returning nothing replies null, and a non-serialisable return becomes a remote error', async (t) => {
  const { app, keys } = await rpcApp(t, {
    nothing: async () => {},
    bigint: async () => 10n
  })
  t.equal(await app.amqp.request(keys.nothing, {}), null)
  await t.rejects(app.amqp.request(keys.bigint, {}), { code: 'FST_AMQP_RPC_REMOTE_ERROR', message: /BigInt/ })
})

t.test('request() to a routing key nobody serves rejects at once with FST_AMQP_UNROUTABLE', async (t) => {
  const exchange = uniqueName(t, 'x')
  const { exchanges } = await admin(t)
  exchanges.push(exchange)
  const app = await build(t, { exchange })
  await t.rejects(app.amqp.request(uniqueName(t), {}, { timeout: 30000 }), { code: 'FST_AMQP_UNROUTABLE' })
})

t.test('concurrent requests to a missing exchange each reject with the stack of their own caller, once', async (t) => {
  const app = await build(t)
  const missing = uniqueName(t, 'missing')
  const ask = async (who: string): Promise<any> => {
    try {
      return await app.amqp.request(uniqueName(t), { who }, { exchange: missing, timeout: 5000 })
    } catch (err) {
      return err
    }
  }
  const errors = await Promise.all([ask('a'), ask('b'), ask('c')])
  for (const err of errors) {
    t.equal(err.code, 'FST_AMQP_EXCHANGE_NOT_FOUND')
    t.equal(err.stack.split('--- request() awaited at ---').length - 1, 1, 'one block of awaiting frames, not one per request')
    t.match(err.stack, /at async ask/, 'naming the function that awaited it')
  }
})

t.test('closing the app rejects pending requests with FST_AMQP_CLOSED', async (t) => {
  const started = collector<boolean>(1)
  const release = deferred<string>()
  const { keys, exchange } = await rpcApp(t, {
    hold: async () => { started.push(true); return release.promise }
  })
  const requester = await build(t, { exchange })
  const pending = requester.amqp.request(keys.hold, {}, { timeout: 30000 })
  const rejected = t.rejects(pending, { code: 'FST_AMQP_CLOSED' })
  await started.done
  await requester.close()
  await rejected
  await t.rejects(requester.amqp.request(keys.hold, {}), { code: 'FST_AMQP_CLOSED' }, 'and refuses new ones')
  release.resolve('too late')
})

t.test('request() validates its arguments', async (t) => {
  const exchange = uniqueName(t, 'x')
  const { exchanges } = await admin(t)
  exchanges.push(exchange)
  const app = await build(t, { exchange })
  await t.rejects(app.amqp.request('k', {}, { timeout: 0 }), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /timeout/ })
  await t.rejects(app.amqp.request('k', {}, { tiemout: 5 } as any), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /tiemout/ })
  await t.rejects(app.amqp.request(null as any, {}), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /routingKey/ })
})
