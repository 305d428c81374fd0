import t from 'tap'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { Type } from '@sinclair/typebox'
import { createWarren, defineMessage, type WarrenClient, type WarrenMessage } from '../lib/index'
import { warrenErrorHandler, warrenHealth, warrenMiddleware } from '../lib/express'
import { memoryBroker } from '../lib/testing'
import { AMQP_URL, admin, collector, deleteExchange, uniqueName } from './helpers'

/*
 * fastify-warren/express on Express 5 and Express 4: req.amqp, the health
 * route, and FST_AMQP_* errors answered as Fastify answers them.
 */

const versions = { 'Express 5': require('express'), 'Express 4': require('express4') } as Record<string, any>

interface TestLike { name: string, teardown (fn: () => unknown): void }

/** Deletes these queues (and their wait and dead-letter queues) after the test. */
async function dropAfter (t: TestLike, ...queues: string[]): Promise<void> {
  (await admin(t)).queues.push(...queues)
}

/** Listens with `app` on a free port, closed after the test; resolves with its base URL. */
async function listen (t: TestLike, app: any): Promise<string> {
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function client (t: TestLike, opts: Record<string, unknown> = {}): WarrenClient {
  const exchange = uniqueName(t, 'x')
  const warren = createWarren({ url: AMQP_URL, exchange, ...opts } as any)
  t.teardown(async () => {
    await warren.close()
    if (!String(opts.url ?? AMQP_URL).startsWith('memory:')) await deleteExchange(exchange)
  })
  return warren
}

for (const [version, express] of Object.entries(versions)) {
  t.test(`${version}: a POST publishes through req.amqp, confirmed, and the worker receives it`, async (t) => {
    const warren = client(t)
    const key = uniqueName(t)
    await dropAfter(t, key)
    const got = collector<WarrenMessage>(1)
    warren.consume(key, async (msg) => { got.push(msg) })
    const app = express()
    app.use(express.json(), warrenMiddleware(warren))
    app.post('/orders', async (req: any, res: any, next: any) => {
      try {
        const receipt = await req.amqp.publish(key, req.body)
        res.status(202).json({ accepted: true, messageId: receipt.messageId })
      } catch (err) {
        next(err)
      }
    })
    app.use(warrenErrorHandler())
    await warren.start()
    const base = await listen(t, app)
    const res = await fetch(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sku: 'A1' }) })
    t.equal(res.status, 202)
    const answer = await res.json() as { messageId: string }
    const [msg] = await got.done
    t.same(msg.body, { sku: 'A1' })
    t.equal(msg.properties.messageId, answer.messageId)
  })

  t.test(`${version}: warrenHealth answers 200 with the health JSON when ok, and 503 once closed`, async (t) => {
    const warren = client(t)
    const app = express()
    app.get('/health/amqp', warrenHealth(warren))
    await warren.start()
    const base = await listen(t, app)
    const ok = await fetch(`${base}/health/amqp`)
    t.equal(ok.status, 200)
    t.match(await ok.json(), { status: 'ok', connected: true })
    await warren.close()
    const down = await fetch(`${base}/health/amqp`)
    t.equal(down.status, 503)
    t.match(await down.json(), { status: 'down' })
  })

  t.test(`${version}: warrenErrorHandler answers an invalid message as Fastify does, with validation`, async (t) => {
    const warren = client(t)
    const Order = defineMessage(uniqueName(t), { body: Type.Object({ id: Type.Integer() }) })
    await dropAfter(t, Order.routingKey)
    const app = express()
    app.use(express.json(), warrenMiddleware(warren))
    app.post('/orders', async (req: any, res: any, next: any) => {
      try {
        await req.amqp.publish(Order, req.body)
        res.status(202).end()
      } catch (err) {
        next(err)
      }
    })
    app.use(warrenErrorHandler())
    await warren.start()
    const base = await listen(t, app)
    const res = await fetch(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"x"}' })
    t.equal(res.status, 400)
    const body = await res.json() as Record<string, unknown>
    t.match(body, { statusCode: 400, code: 'FST_AMQP_INVALID_MESSAGE', error: 'Bad Request', message: /Invalid body/ })
    t.ok(Array.isArray(body.validation) && body.validation.length > 0, 'the validation errors are listed')
  })

  t.test(`${version}: warrenErrorHandler passes other errors, and errors after the headers were sent, to next()`, async (t) => {
    const app = express()
    const passed: unknown[] = []
    app.get('/other', () => { throw new Error('not ours') })
    app.get('/late', (_req: any, res: any, next: any) => {
      res.status(200)
      res.write('partial')
      const err = Object.assign(new Error('late'), { code: 'FST_AMQP_RPC_TIMEOUT', statusCode: 504 })
      next(err)
    })
    app.use(warrenErrorHandler())
    app.use((err: Error, _req: any, res: any, _next: any) => {
      passed.push(err.message)
      if (res.headersSent) res.end()
      else res.status(599).send('mine')
    })
    const base = await listen(t, app)
    t.equal((await fetch(`${base}/other`)).status, 599)
    const late = await fetch(`${base}/late`)
    t.equal(await late.text(), 'partial')
    t.same(passed, ['not ours', 'late'])
  })

  t.test(`${version}: with no error middleware, Express's own handler answers 503 with Retry-After when the broker is down and the buffer is off`, async (t) => {
    const broker = memoryBroker()
    const warren = client(t, { url: broker.url, publishBuffer: 0 })
    const app = express()
    app.use(warrenMiddleware(warren))
    app.post('/orders', async (req: any, res: any, next: any) => {
      try {
        await req.amqp.publish('orders', {})
        res.status(202).end()
      } catch (err) {
        next(err)
      }
    })
    // Express's final handler logs the stack unless env is test: keep the test's output clean.
    app.set('env', 'test')
    await warren.start()
    const base = await listen(t, app)
    broker.disconnect()
    const res = await fetch(`${base}/orders`, { method: 'POST' })
    t.equal(res.status, 503)
    t.match(res.headers.get('retry-after'), /^\d+$/, 'Retry-After in whole seconds')
  })

  t.test(`${version}: warrenErrorHandler answers an RPC timeout with 504 and the JSON body`, async (t) => {
    const warren = client(t, { closeTimeout: 200 })
    const key = uniqueName(t)
    await dropAfter(t, key)
    warren.consume(key, async () => await new Promise(() => {}))
    const app = express()
    app.use(warrenMiddleware(warren))
    app.get('/quote', async (req: any, res: any, next: any) => {
      try {
        res.json(await req.amqp.request(key, {}, { timeout: 200 }))
      } catch (err) {
        next(err)
      }
    })
    app.use(warrenErrorHandler())
    await warren.start()
    const base = await listen(t, app)
    const res = await fetch(`${base}/quote`)
    t.equal(res.status, 504)
    t.match(await res.json(), { statusCode: 504, code: 'FST_AMQP_RPC_TIMEOUT', error: 'Gateway Timeout' })
  })
}

t.test('warrenMiddleware and warrenHealth refuse anything but a client', async (t) => {
  t.throws(() => warrenMiddleware({} as any), { code: 'FST_AMQP_INVALID_ARGUMENT' })
  t.throws(() => warrenHealth(undefined as any), { code: 'FST_AMQP_INVALID_ARGUMENT' })
})
