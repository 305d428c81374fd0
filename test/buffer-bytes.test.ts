import t from 'tap'
import { admin, build, proxy, uniqueName, waitFor } from './helpers'

/*
 * The offline buffer is bounded in bytes as well as in messages, so a
 * publisher that goes on publishing large messages through an outage keeps
 * its memory.
 */

const MiB = 1024 * 1024

t.test('while disconnected, 20,000 publishes of 64 KB: those past publishBufferBytes (64 MiB) reject at once with FST_AMQP_BUFFER_FULL, memory stays bounded, and the held ones go out once the connection is back', async (t) => {
  const p = await proxy(t)
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  await ch.assertQueue(key, { durable: false })
  const app = await build(t, { url: p.url, reconnectDelay: 20, reconnectDelayMax: 100, publishTimeout: 120000 })
  p.refuse()
  p.cut()
  await waitFor('the app to see the connection gone', () => app.amqp.health().status === 'down')

  const before = process.memoryUsage().rss
  let peak = before
  const settled: Array<'resolved' | 'full' | 'other'> = []
  const held: Array<Promise<unknown>> = []
  for (let n = 0; n < 20000; n++) {
    const body = Buffer.alloc(64 * 1024, n % 251) // a fresh 64 KB each time, as a real caller would make
    const publish = app.amqp.publish(key, body, { exchange: '' })
    const i = settled.length
    settled.push('other')
    held.push(publish.then(() => { settled[i] = 'resolved' }, (err) => { settled[i] = err.code === 'FST_AMQP_BUFFER_FULL' ? 'full' : 'other' }))
    if (n % 1000 === 0) peak = Math.max(peak, process.memoryUsage().rss)
  }
  // One turn of the event loop: refusals are at once, not at a timeout.
  await new Promise((resolve) => setImmediate(resolve))
  const full = settled.filter((s) => s === 'full').length
  const waiting = app.amqp.health().buffered
  t.equal(full + waiting, 20000, `${full} refused at once with FST_AMQP_BUFFER_FULL, ${waiting} held`)
  t.ok(waiting * 64 * 1024 <= 64 * MiB, `the ${waiting} held messages fit in 64 MiB`)
  t.ok(waiting >= 900, 'and the buffer was used up to about its byte bound')
  const grew = (peak - before) / MiB
  t.ok(grew < 400, `RSS grew by ${grew.toFixed(0)} MiB at most while publishing (20,000 × 64 KB would be 1,250 MiB)`)

  p.accept()
  await Promise.all(held)
  t.equal(settled.filter((s) => s === 'resolved').length, waiting, 'every held publish was confirmed once the connection was back')
  t.equal((await ch.checkQueue(key)).messageCount, waiting, 'and is in the queue')
})

t.test('one message larger than publishBufferBytes may still wait in an empty buffer; a second one is refused', async (t) => {
  const p = await proxy(t)
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  await ch.assertQueue(key, { durable: false })
  const app = await build(t, { url: p.url, reconnectDelay: 20, reconnectDelayMax: 100, publishBufferBytes: 1000 })
  p.refuse()
  p.cut()
  await waitFor('the app to see the connection gone', () => app.amqp.health().status === 'down')
  const first = app.amqp.publish(key, Buffer.alloc(5000), { exchange: '' })
  await t.rejects(app.amqp.publish(key, Buffer.alloc(10), { exchange: '' }), { code: 'FST_AMQP_BUFFER_FULL' })
  t.equal(app.amqp.health().buffered, 1)
  p.accept()
  await first
  t.equal((await ch.checkQueue(key)).messageCount, 1, 'the large one went out once the connection was back')
})

t.test('publishBufferBytes is validated, and 0 refuses every publish while disconnected, as publishBuffer 0 does', async (t) => {
  await t.rejects(build(t, { publishBufferBytes: -1 }), { code: 'FST_AMQP_INVALID_OPTION' })
  const p = await proxy(t)
  const app = await build(t, { url: p.url, publishBufferBytes: 0, reconnectDelay: 20 })
  p.refuse()
  p.cut()
  await waitFor('the app to see the connection gone', () => app.amqp.health().status === 'down')
  await t.rejects(app.amqp.publish('k', { n: 1 }), { code: 'FST_AMQP_NOT_CONNECTED', message: /publishBufferBytes is 0/ })
})
