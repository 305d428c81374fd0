import t from 'tap'
import Fastify from 'fastify'
import warren from '../lib/index'
import { AMQP_URL, admin, build, closedPort, collector, ready, uniqueName, waitFor, ON_MEMORY } from './helpers'

/*
 * Every kind of bad input, each with the code a user can branch on, and
 * nothing lost: a boot error fails ready() and nothing else, a bad call
 * rejects that call and the app goes on publishing and consuming.
 */

const withPassword = (url: string, password: string) => {
  const u = new URL(url)
  u.password = password
  return u.toString()
}

t.test('bad options and unreachable or refusing brokers fail ready() with a distinct code each, never showing the password', { skip: ON_MEMORY && 'needs RabbitMQ over the network (credentials, virtual hosts, closed ports)' }, async (t) => {
  const port = await closedPort()
  const vhost = new URL(AMQP_URL)
  vhost.pathname = '/' + uniqueName(t, 'vhost')
  const ownExchange = uniqueName(t, 'x')
  const { ch, exchanges } = await admin(t)
  exchanges.push(ownExchange)
  // The plugin's own exchange is a topic exchange; one that exists as fanout cannot be it.
  await ch.assertExchange(ownExchange, 'fanout', { durable: true })

  const rows: Array<[string, unknown, string]> = [
    ['options that are not an object', 'amqp://localhost', 'FST_AMQP_INVALID_OPTION'],
    ['no url', {}, 'FST_AMQP_INVALID_OPTION'],
    ['a malformed URL holding a password', { url: 'amqp://guest:s3cret@' }, 'FST_AMQP_INVALID_OPTION'],
    ['an http:// URL', { url: 'http://guest:s3cret@127.0.0.1:5672' }, 'FST_AMQP_INVALID_OPTION'],
    ['an empty list of URLs', { url: [] }, 'FST_AMQP_INVALID_OPTION'],
    ['an unknown option (a typo)', { url: AMQP_URL, prefech: 5 }, 'FST_AMQP_INVALID_OPTION'],
    ['a prefetch of 0', { url: AMQP_URL, prefetch: 0 }, 'FST_AMQP_INVALID_OPTION'],
    ['a heartbeat that is not a number', { url: AMQP_URL, heartbeat: '10' }, 'FST_AMQP_INVALID_OPTION'],
    ['an exchange type RabbitMQ does not have', { url: AMQP_URL, exchanges: { logs: 'x-delayed-message' } }, 'FST_AMQP_INVALID_OPTION'],
    ['a reserved amq. exchange name', { url: AMQP_URL, exchanges: { 'amq.mine': 'fanout' } }, 'FST_AMQP_INVALID_OPTION'],
    ['reconnectDelayMax below reconnectDelay', { url: AMQP_URL, reconnectDelay: 5000, reconnectDelayMax: 1000 }, 'FST_AMQP_INVALID_OPTION'],
    ['a negative publishBuffer', { url: AMQP_URL, publishBuffer: -1 }, 'FST_AMQP_INVALID_OPTION'],
    ['a wrong password', { url: withPassword(AMQP_URL, 's3cret'), connectTimeout: 5000 }, 'FST_AMQP_ACCESS_REFUSED'],
    ['an unknown virtual host', { url: vhost.toString(), connectTimeout: 5000 }, 'FST_AMQP_VHOST_NOT_ALLOWED'],
    ['a host where nothing listens', { url: `amqp://guest:s3cret@127.0.0.1:${port}`, connectTimeout: 300, reconnectDelay: 50 }, 'FST_AMQP_CONNECT_TIMEOUT'],
    ['its own exchange existing with another type', { url: AMQP_URL, exchange: ownExchange }, 'FST_AMQP_TOPOLOGY_MISMATCH']
  ]
  for (const [what, options, code] of rows) {
    const app = Fastify()
    app.register(warren, options as any)
    const err: any = await ready(app).catch((e) => e)
    t.equal(err?.code, code, `${what}: ${code}`)
    t.notMatch(String(err?.message), /s3cret/, `${what}: the message does not show the password`)
    await app.close().catch(() => {})
  }
  const fine = await build(t)
  await t.resolves(fine.amqp.publish('k', {}, { mandatory: false }), 'after all of them, an app boots and publishes as usual')
})

t.test('bad calls reject with a coded error each, and the app goes on publishing and consuming', async (t) => {
  const key = uniqueName(t)
  const rpcKey = uniqueName(t, 'rpc')
  const { queues } = await admin(t)
  queues.push(key, rpcKey)
  const app = await build(t, { maxMessageSize: 64 * 1024 }, { ready: false })
  const got = collector<unknown>(1)
  app.amqp.consume(key, async (msg) => { got.push(msg.body) })
  app.amqp.consume(rpcKey, async (msg) => {
    if (msg.body === 'throw') throw Object.assign(new Error('no such thing'), { code: 'E_NOPE' })
    if (msg.body === 'bigint') return { n: 1n }
    if (msg.body === 'slow') await new Promise((resolve) => setTimeout(resolve, 500))
    return 'ok'
  })
  await app.ready()
  const circular: any = {}
  circular.self = circular
  const h = async () => {}

  const calls: Array<[string, () => Promise<unknown>, string]> = [
    ['publish: a routing key that is not a string', () => app.amqp.publish(42 as any, {}), 'FST_AMQP_INVALID_ARGUMENT'],
    ['publish: an unknown option', () => app.amqp.publish(key, {}, { persistant: true } as any), 'FST_AMQP_INVALID_ARGUMENT'],
    ['publish: a priority over 255', () => app.amqp.publish(key, {}, { priority: 256 }), 'FST_AMQP_INVALID_ARGUMENT'],
    ['publish: a BigInt in the body', () => app.amqp.publish(key, { n: 1n }), 'FST_AMQP_ENCODE'],
    ['publish: a circular body', () => app.amqp.publish(key, circular), 'FST_AMQP_ENCODE'],
    ['publish: undefined as the body', () => app.amqp.publish(key, undefined), 'FST_AMQP_ENCODE'],
    ['publish: a body over maxMessageSize', () => app.amqp.publish(key, Buffer.alloc(64 * 1024 + 1)), 'FST_AMQP_MESSAGE_TOO_LARGE'],
    ['publish: an exchange that does not exist', () => app.amqp.publish(key, {}, { exchange: uniqueName(t, 'missing') }), 'FST_AMQP_EXCHANGE_NOT_FOUND'],
    ['publish: a routing key no queue is bound to', () => app.amqp.publish(uniqueName(t, 'nobody'), {}), 'FST_AMQP_UNROUTABLE'],
    ['request: a timeout of 0', () => app.amqp.request(rpcKey, 1, { timeout: 0 }), 'FST_AMQP_INVALID_ARGUMENT'],
    ['request: a body over maxMessageSize', () => app.amqp.request(rpcKey, 'x'.repeat(64 * 1024 + 1)), 'FST_AMQP_MESSAGE_TOO_LARGE'],
    ['request: a routing key nobody serves', () => app.amqp.request(uniqueName(t, 'nobody'), 1), 'FST_AMQP_UNROUTABLE'],
    ['request: a handler that throws', () => app.amqp.request(rpcKey, 'throw'), 'FST_AMQP_RPC_REMOTE_ERROR'],
    ['request: a handler returning what JSON cannot carry', () => app.amqp.request(rpcKey, 'bigint'), 'FST_AMQP_RPC_REMOTE_ERROR'],
    ['request: no reply within the timeout', () => app.amqp.request(rpcKey, 'slow', { timeout: 100 }), 'FST_AMQP_RPC_TIMEOUT'],
    ['gather: an empty expect list', () => app.amqp.gather(rpcKey, 1, { expect: [] }), 'FST_AMQP_INVALID_ARGUMENT'],
    ['consume: a handler that is not a function', async () => app.amqp.consume(key, 'nope' as any), 'FST_AMQP_INVALID_ARGUMENT'],
    ['consume: an exchange type RabbitMQ does not have', async () => app.amqp.consume(key, h, { exchange: 'e', exchangeType: 'x-delayed-message' as any }), 'FST_AMQP_INVALID_ARGUMENT'],
    ['consume: retry attempts of 0', async () => app.amqp.consume(key, h, { retry: { attempts: 0 } }), 'FST_AMQP_INVALID_ARGUMENT'],
    ['consume: a jitter over 1', async () => app.amqp.consume(key, h, { retry: { jitter: 2 } }), 'FST_AMQP_INVALID_ARGUMENT'],
    ['consume: a dead-letter queue that is the queue itself', async () => app.amqp.consume(key, h, { deadLetter: key }), 'FST_AMQP_INVALID_ARGUMENT'],
    ['consume: a queue name too long for its wait queues', async () => app.amqp.consume(key, h, { queue: 'q'.repeat(250) }), 'FST_AMQP_INVALID_ARGUMENT']
  ]
  for (const [what, call, code] of calls) {
    const err: any = await call().then(() => undefined, (e) => e)
    t.equal(err?.code, code, `${what}: ${code}`)
  }
  const remote: any = await app.amqp.request(rpcKey, 'throw').catch((e) => e)
  t.same(remote.remote, { message: 'no such thing', code: 'E_NOPE' }, 'a remote error carries the remote message and code')

  // Nothing above broke the app: its channels are open and its consumer receives.
  await app.amqp.publish(key, { after: 'all of that' })
  t.same(await got.done, [{ after: 'all of that' }], 'the consumer still receives')
  t.equal(await app.amqp.request(rpcKey, 'fine'), 'ok', 'requests still work')
  await waitFor('health to report ok', () => app.amqp.health().status === 'ok')
})
