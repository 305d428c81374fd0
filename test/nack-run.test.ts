import t from 'tap'
import { admin, buildLogged, uniqueName, waitFor } from './helpers'

/*
 * A run of nacks: a queue that holds one message and refuses the rest
 * (x-overflow reject-publish) nacks every publish once full, as a channel
 * stuck on a quorum queue whose leader moved did for 22 s in a cluster
 * test. The broker emulated by memory:// refuses the same way.
 */

t.test('a publishing channel whose publishes are all nacked for longer than the bound is reopened with a warning, and health() is degraded until a publish is acked again', async (t) => {
  const queue = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(queue)
  await ch.assertQueue(queue, { durable: true, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } })
  const { app, lines } = await buildLogged(t)
  const to = { exchange: '' }

  await app.amqp.publish(queue, { n: 0 }, to)
  await t.rejects(app.amqp.publish(queue, { n: 1 }, to), { code: 'FST_AMQP_PUBLISH_NACKED' }, 'the queue is full: the next publish is nacked')
  t.match(app.amqp.health(), { status: 'ok', publishing: 'ok' }, 'one nack is not a run: health() is still ok')

  const codes = new Set<string>()
  let n = 2
  await waitFor('health() to report the run of nacks', async () => {
    const err = await app.amqp.publish(queue, { n: n++ }, to).then(() => undefined, (e: { code?: string }) => e)
    codes.add(err?.code ?? 'acked')
    return app.amqp.health().status === 'degraded'
  }, 30000)
  t.same([...codes], ['FST_AMQP_PUBLISH_NACKED'], 'every publish meanwhile was nacked')
  t.match(app.amqp.health(), { status: 'degraded', connected: true, blocked: false, publishing: 'nacked' }, 'health() is degraded, and says publishes are nacked')
  const logged = () => lines.map((l) => JSON.parse(l) as { level: number, msg: string, channel?: string, nacks?: number })
  t.ok(logged().some((l) => l.level === 40 && /nacked/.test(l.msg) && l.channel === 'publisher' && (l.nacks ?? 0) > 1), 'a warning names the channel and the nacks')
  t.ok(await waitFor('the channel to be opened again', () => logged().some((l) => /channel set up again/.test(l.msg) && l.channel === 'publisher')), 'and the channel is opened again')

  // While still full, the new channel's publishes are nacked too: still degraded.
  await t.rejects(app.amqp.publish(queue, { n: n++ }, to), { code: 'FST_AMQP_PUBLISH_NACKED' })
  t.equal(app.amqp.health().status, 'degraded')

  await ch.purgeQueue(queue)
  await app.amqp.publish(queue, { n: 'after' }, to)
  t.match(app.amqp.health(), { status: 'ok', publishing: 'ok' }, 'once a publish is acked, health() is ok again')
})

t.test('publishes in flight when the nacked channel is reopened reject with a coded error the caller may retry, and publishing goes on on the new channel', async (t) => {
  const queue = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(queue)
  await ch.assertQueue(queue, { durable: true, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } })
  const { app, lines } = await buildLogged(t)
  const to = { exchange: '' }
  await app.amqp.publish(queue, { n: 0 }, to)

  // Bursts: some publishes are still in flight when a nack ends the run.
  const outcomes: Array<Promise<string>> = []
  await waitFor('the channel to be reopened', async () => {
    const burst = Array.from({ length: 50 }, (_, i) => app.amqp.publish(queue, { i }, to).then(() => 'acked', (err: { code?: string }) => String(err.code)))
    outcomes.push(...burst)
    await Promise.all(burst)
    return lines.some((l) => /channel set up again/.test(l))
  }, 30000)
  const codes = new Set(await Promise.all(outcomes))
  t.ok([...codes].every((c) => c === 'FST_AMQP_PUBLISH_NACKED' || c === 'FST_AMQP_PUBLISH_UNCONFIRMED'), `each one rejected, nacked or unconfirmed (${[...codes].join(', ')})`)

  await ch.purgeQueue(queue)
  await app.amqp.publish(queue, { n: 'after' }, to)
  t.equal((await ch.checkQueue(queue)).messageCount, 1, 'the new channel publishes')
  t.equal(app.amqp.health().status, 'ok')
})
