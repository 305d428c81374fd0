import t from 'tap'
import { admin, build, proxy, uniqueName, waitFor } from './helpers'

t.test('healthRoute answers 503 while a consumer\'s connection is down and 200 once it is back', async (t) => {
  const p = await proxy(t)
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const app = await build(t, { url: p.url, healthRoute: '/health/amqp', reconnectDelay: 20, reconnectDelayMax: 100 }, { ready: false })
  app.amqp.consume(key, async () => {})
  await app.ready()
  const ok = await app.inject('/health/amqp')
  t.equal(ok.statusCode, 200)
  t.match(ok.json(), { status: 'ok', consumers: { total: 1, running: 1, list: [{ queue: key, running: true }] } })
  p.refuse()
  p.cut()
  await waitFor('the app to see the connection gone', () => app.amqp.health().status === 'down')
  const down = await app.inject('/health/amqp')
  t.equal(down.statusCode, 503)
  t.match(down.json(), { status: 'down', connected: false })
  p.accept()
  await waitFor('the health route to answer 200 again', async () => (await app.inject('/health/amqp')).statusCode === 200, 15000)
  t.pass('200 once the consumer runs again')
})
