import t from 'tap'
import type { WarrenMessage } from '../lib/index'
import { admin, build, collector, deferred, uniqueName } from './helpers'

/*
 * Consumer priority: of two consumers of one queue, the one of higher
 * priority gets the messages while it has room under its prefetch.
 */

t.test('of two consumers of one queue with prefetch 1, the one of higher priority gets each message while it has room; the lower one only when it is full', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  // Each handler holds its message until the test lets it go, so who has room is up to the test.
  const gates = new Map<string, ReturnType<typeof deferred<void>>>()
  const gate = (n: string) => {
    let g = gates.get(n)
    if (g === undefined) gates.set(n, g = deferred<void>())
    return g
  }
  const firstTwo = collector<string>(2)
  const all = collector<string>(3)
  const consumer = (name: 'low' | 'high') => async (msg: WarrenMessage<string>) => {
    firstTwo.push(`${name}:${msg.body}`)
    all.push(`${name}:${msg.body}`)
    await gate(msg.body).promise
  }

  // The low one starts first, so that arrival order cannot explain what the high one gets.
  const low = await build(t, {}, { ready: false })
  low.amqp.consume(key, consumer('low'), { prefetch: 1, priority: -1 })
  await low.ready()
  const high = await build(t, {}, { ready: false })
  high.amqp.consume(key, consumer('high'), { prefetch: 1, priority: 10 })
  await high.ready()
  t.teardown(() => { for (const g of gates.values()) g.resolve() })

  for (const body of ['m1', 'm2', 'm3']) await low.amqp.publish(key, body)
  // Two apps: which of them runs its handler first is not the broker's choice.
  t.same((await firstTwo.done).sort(), ['high:m1', 'low:m2'], 'the high one got the first; full, it left the second to the low one, and the third waits')
  gate('m1').resolve()
  t.equal((await all.done)[2], 'high:m3', 'once the high one has room again, it gets the third')
})
