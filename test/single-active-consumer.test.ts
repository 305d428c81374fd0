import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import { admin, build, collector, deferred, uniqueName, waitFor } from './helpers'

/*
 * Single active consumer: two apps consume one queue, one receives, and when
 * it goes away the other takes over where it stopped. The kill -9 variant,
 * with the active consumer in a process of its own, is in
 * test/e2e/single-active-consumer.test.ts.
 */

for (const queueType of ['classic', 'quorum'] as const) {
  t.test(`two apps consume a ${queueType} queue with a single active consumer: only the first receives, and when it closes mid-sequence the second takes over, in order, with nothing lost`, async (t) => {
    const key = uniqueName(t)
    const { queues } = await admin(t)
    queues.push(key)
    const options = { queueType, singleActiveConsumer: true, prefetch: 1 }
    const hung = deferred<number>()

    const first = await build(t, { closeTimeout: 100 }, { ready: false })
    const handledByFirst: number[] = []
    first.amqp.consume(key, async (msg: WarrenMessage<{ n: number }>) => {
      // The fifth never finishes here: the first app closes while handling it.
      if (msg.body.n === 5) {
        hung.resolve(msg.body.n)
        return new Promise(() => {})
      }
      handledByFirst.push(msg.body.n)
    }, options)
    await first.ready()

    const second = await build(t, {}, { ready: false })
    const bySecond = collector<{ n: number, redelivered: boolean }>(6)
    second.amqp.consume(key, async (msg: WarrenMessage<{ n: number }>) => {
      bySecond.push({ n: msg.body.n, redelivered: msg.redelivered })
    }, options)
    await second.ready()

    for (let n = 1; n <= 10; n++) await second.amqp.publish(key, { n })
    await hung.promise
    t.same(handledByFirst, [1, 2, 3, 4], 'the first app handled the first four, in order')
    t.same(bySecond.values, [], 'the second received nothing while the first was active')

    await first.close()
    const taken = await bySecond.done
    t.same(taken.map((m) => m.n), [5, 6, 7, 8, 9, 10], 'the second took over at the message the first did not finish, in order')
    t.ok(taken[0].redelivered, 'that one redelivered')
    t.same([...handledByFirst, ...taken.map((m) => m.n)], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'together: every message, once, in order')
  })
}

t.test('closing a single active consumer whose handler finishes in time hands over after it: the message is not handled twice', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const options = { singleActiveConsumer: true, prefetch: 1 }
  const started = deferred<void>()
  const release = deferred<void>()

  const first = await build(t, { closeTimeout: 5000 }, { ready: false })
  const handledByFirst: number[] = []
  first.amqp.consume(key, async (msg: WarrenMessage<{ n: number }>) => {
    if (msg.body.n === 2) {
      started.resolve()
      await release.promise
    }
    handledByFirst.push(msg.body.n)
  }, options)
  await first.ready()
  const second = await build(t, {}, { ready: false })
  const bySecond = collector<number>(3)
  second.amqp.consume(key, async (msg: WarrenMessage<{ n: number }>) => { bySecond.push(msg.body.n) }, options)
  await second.ready()

  for (let n = 1; n <= 5; n++) await second.amqp.publish(key, { n })
  await started.promise
  const closing = first.close()
  // The handler finishes once the app is closing; only then does the second take over.
  await waitFor('the first consumer to stop taking messages', () => first.amqp.health().consumers.list.every((c) => !c.running))
  release.resolve()
  await closing
  t.same(handledByFirst, [1, 2], 'the first finished what it had started')
  t.same(await bySecond.done, [3, 4, 5], 'the second went on from the next one')
})
