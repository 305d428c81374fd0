import t from 'tap'
import net from 'node:net'
import Fastify from 'fastify'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import warren, { type WarrenMessage } from '../lib/index'
import { AMQP_URL, admin, appWithLog, build, closedPort, collector, deferred, ready, uniqueName } from './helpers'

const run = promisify(execFile)

t.test('an unreachable broker makes ready() reject with FST_AMQP_CONNECT_TIMEOUT within connectTimeout, without logging the password', async (t) => {
  const port = await closedPort()
  const { app, lines } = appWithLog()
  t.teardown(() => app.close())
  const started = Date.now()
  app.register(warren, { url: `amqp://guest:s3cret@127.0.0.1:${port}`, connectTimeout: 600, reconnectDelay: 100 })
  const err: any = await ready(app).catch((e) => e)
  const elapsed = Date.now() - started
  t.equal(err.code, 'FST_AMQP_CONNECT_TIMEOUT')
  t.equal(err.statusCode, 503)
  t.match(err.message, /ECONNREFUSED/)
  t.ok(elapsed >= 600 && elapsed < 5000, `rejected after the connect timeout (${elapsed} ms)`)
  t.notMatch(err.message, /s3cret/)
  t.ok(lines.some((l) => /attempt failed/.test(l)), 'failed attempts are logged')
  t.notOk(lines.some((l) => l.includes('s3cret')), 'no log line holds the password')
})

t.test('a wrong password makes ready() reject with FST_AMQP_ACCESS_REFUSED at once', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const url = new URL(AMQP_URL)
  url.password = 'definitely-wrong'
  app.register(warren, { url: url.toString(), connectTimeout: 20000 })
  const started = Date.now()
  const err: any = await ready(app).catch((e) => e)
  t.equal(err.code, 'FST_AMQP_ACCESS_REFUSED')
  t.ok(Date.now() - started < 15000, 'did not wait for the connect timeout')
  t.notMatch(err.message, /definitely-wrong/)
})

t.test('an unknown virtual host makes ready() reject with FST_AMQP_VHOST_NOT_ALLOWED', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const url = new URL(AMQP_URL)
  url.pathname = '/' + uniqueName(t, 'vhost')
  app.register(warren, { url: url.toString(), connectTimeout: 20000 })
  await t.rejects(ready(app), { code: 'FST_AMQP_VHOST_NOT_ALLOWED' })
})

t.test('with a list of URLs the plugin moves on from one that does not answer', async (t) => {
  const port = await closedPort()
  const exchange = uniqueName(t, 'x')
  const { exchanges } = await admin(t)
  exchanges.push(exchange)
  const app = await build(t, { url: [`amqp://guest:guest@127.0.0.1:${port}`, AMQP_URL], reconnectDelay: 50, exchange })
  await t.resolves(app.amqp.publish('k', {}, { mandatory: false }))
})

t.test('the connection carries its name and heartbeat, and TCP no-delay is on', async (t) => {
  const setNoDelay = net.Socket.prototype.setNoDelay
  const noDelayCalls: Array<boolean | undefined> = []
  net.Socket.prototype.setNoDelay = function (this: net.Socket, noDelay?: boolean) {
    noDelayCalls.push(noDelay)
    return setNoDelay.call(this, noDelay)
  }
  t.teardown(() => { net.Socket.prototype.setNoDelay = setNoDelay })
  const name = uniqueName(t, 'conn')
  const exchange = uniqueName(t, 'x')
  const { exchanges } = await admin(t)
  exchanges.push(exchange)
  await build(t, { connectionName: name, heartbeat: 7, exchange })
  t.ok(noDelayCalls.includes(true), 'setNoDelay(true) was called on the socket')
  const { stdout } = await run('rabbitmqctl', ['list_connections', '-q', '--formatter', 'json', 'client_properties', 'timeout'])
  const conns: any[] = JSON.parse(stdout)
  const ours = conns.find((c) => JSON.stringify(c.client_properties).includes(name))
  t.ok(ours, 'the connection is listed under its name')
  t.equal(ours?.timeout, 7)
})

t.test('app.close() waits for handlers in flight, acks their messages, and leaves later messages in the queue', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { ch, queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)
  const app = await build(t, { exchange }, { ready: false })
  const started = collector<number>(3)
  const release = deferred()
  const finished: number[] = []
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    started.push(msg.body)
    await release.promise
    await new Promise((resolve) => setTimeout(resolve, 50))
    finished.push(msg.body)
  })
  await app.ready()
  for (let n = 0; n < 3; n++) await app.amqp.publish(key, n)
  await started.done
  let closed = false
  const closing = app.close().then(() => { closed = true })
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(closed, false, 'close() is still waiting for the handlers')
  release.resolve()
  await closing
  t.same(finished.sort(), [0, 1, 2], 'every handler in flight finished')
  t.equal((await ch.checkQueue(key)).messageCount, 0, 'and its message was acked')
  await t.rejects(app.amqp.publish(key, 3), { code: 'FST_AMQP_CLOSED' })
  t.throws(() => app.amqp.consume(key, async () => {}), { code: 'FST_AMQP_CLOSED' })
  await t.resolves(app.close(), 'closing twice is safe')
})

t.test('messages delivered after close() began are not handled and go back to the queue', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { ch, queues, exchanges } = await admin(t)
  queues.push(key); exchanges.push(exchange)
  const app = await build(t, { exchange, closeTimeout: 5000 }, { ready: false })
  const started = collector<number>(1)
  const release = deferred()
  const handled: number[] = []
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    handled.push(msg.body)
    started.push(msg.body)
    await release.promise
  }, { prefetch: 1 })
  await app.ready()
  const producer = await build(t, { exchange })
  for (let n = 0; n < 5; n++) await producer.amqp.publish(key, n)
  await started.done
  const closing = app.close()
  release.resolve()
  await closing
  t.same(handled, [0], 'only the message in flight was handled')
  t.equal((await ch.checkQueue(key)).messageCount, 4, 'the other four wait in the queue')
})
