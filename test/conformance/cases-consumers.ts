import type { Channel, ConsumeMessage, GetMessage } from 'amqplib'
import type { Case } from './cases'
import type { Broker } from './brokers'
import { bodies, channel, confirmChannel, eventually, inbox, publishAll, within } from './observe'

/*
 * Which consumer of a queue gets a message: single active consumer
 * (x-single-active-consumer) and consumer priorities (x-priority).
 */

/** A channel with prefetch `n`, on a connection of its own (so closing it is that consumer going away). */
async function consumerChannel (b: Broker, n: number): Promise<Channel> {
  const ch = await channel(await b.connect())
  await ch.prefetch(n)
  return ch
}

/** Takes `n` messages off `q` with basic.get (no ack), waiting for each (a requeue may be on its way). */
async function drainAll (ch: Channel, q: string, n: number): Promise<GetMessage[]> {
  const all: GetMessage[] = []
  for (let i = 0; i < n; i++) all.push(await eventually(async () => (await ch.get(q, { noAck: true })) || undefined, `message ${i + 1} of ${q}`))
  return all
}

/** Waits until the broker has handled what `ch` sent so far (a method with a reply after it). */
async function roundTrip (ch: Channel, q: string): Promise<void> {
  await ch.checkQueue(q)
}

export const consumerCases: Case[] = [
  {
    name: 'a single-active-consumer queue delivers to its oldest consumer only; when that one\'s channel closes, the next takes over with the unacked messages first, in order',
    async run (b) {
      const conn = await b.connect()
      const pub = await confirmChannel(conn)
      const q = b.unique('q')
      await pub.assertQueue(q, { durable: false, arguments: { 'x-single-active-consumer': true } })
      const chA = await consumerChannel(b, 2)
      const chB = await consumerChannel(b, 10)
      const a = await inbox(chA, q)
      const b2 = await inbox(chB, q)
      await publishAll(pub, '', q, ['m1', 'm2', 'm3', 'm4', 'm5'])
      const first = bodies(await a.until(2))
      // B waits: nothing reaches it while A is active, even with A full.
      await roundTrip(chB, q)
      const waiting = bodies(b2.messages)
      chA.ack(a.messages[0] as ConsumeMessage)
      await a.until(3)
      await chA.close()
      const taken = bodies(await b2.until(4))
      return { a: bodies(a.messages), first, waiting, b: taken }
    },
    expect: { a: ['m1', 'm2', 'm3'], first: ['m1', 'm2'], waiting: [], b: ['m2*', 'm3*', 'm4', 'm5'] }
  },
  {
    name: 'a cancelled single active consumer holding unacked messages keeps a classic queue until they are settled; a quorum queue hands over at once',
    async run (b) {
      const observe = async (type: 'classic' | 'quorum') => {
        const conn = await b.connect()
        const pub = await confirmChannel(conn)
        const q = b.unique(type)
        await pub.assertQueue(q, { durable: true, arguments: { 'x-single-active-consumer': true, ...(type === 'quorum' ? { 'x-queue-type': 'quorum' } : {}) } })
        const chA = await consumerChannel(b, 1)
        const chB = await consumerChannel(b, 1)
        const a = await inbox(chA, q)
        const next = await inbox(chB, q, {}, (m) => { if (m !== null) chB.ack(m) })
        await publishAll(pub, '', q, ['m1', 'm2', 'm3'])
        await a.until(1)
        await chA.cancel(a.consumerTag)
        chA.nack(a.messages[0] as ConsumeMessage)
        return { a: bodies(a.messages), b: bodies(await next.until(3)) }
      }
      return { classic: await observe('classic'), quorum: await observe('quorum') }
    },
    expect: {
      classic: { a: ['m1'], b: ['m1*', 'm2', 'm3'] },
      quorum: { a: ['m1'], b: ['m2', 'm3', 'm1*'] }
    }
  },
  {
    name: 'a quorum queue puts a message nacked with requeue at the back, but returns a closed channel\'s unacked messages to the front',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const q = b.unique('q')
      await ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum' } })
      await publishAll(ch, '', q, ['m1', 'm2', 'm3'])
      const m1 = await ch.get(q) as GetMessage
      ch.nack(m1)
      const nacked = bodies(await drainAll(ch, q, 3))
      await publishAll(ch, '', q, ['m4', 'm5', 'm6'])
      const holder = await consumerChannel(b, 2)
      const held = await inbox(holder, q)
      await held.until(2)
      await holder.close()
      return { nacked, closed: bodies(await drainAll(ch, q, 3)) }
    },
    expect: { nacked: ['m2', 'm3', 'm1*'], closed: ['m4*', 'm5*', 'm6'] }
  },
  {
    name: 'a consumer of higher priority gets the messages while it has room under its prefetch; a lower one gets them only when it is full',
    async run (b) {
      const conn = await b.connect()
      const pub = await confirmChannel(conn)
      const q = b.unique('q')
      await pub.assertQueue(q, { durable: false })
      // The low one first, so that arrival order cannot explain what the high one gets.
      const chLow = await consumerChannel(b, 1)
      const chHigh = await consumerChannel(b, 1)
      const low = await inbox(chLow, q, { priority: 1 })
      const high = await inbox(chHigh, q, { arguments: { 'x-priority': 10 } })
      await publishAll(pub, '', q, ['m1', 'm2', 'm3'])
      await high.until(1)
      await low.until(1)
      const full = { high: bodies(high.messages), low: bodies(low.messages), ready: (await pub.checkQueue(q)).messageCount }
      chHigh.ack(high.messages[0] as ConsumeMessage)
      await high.until(2)
      await roundTrip(chLow, q)
      return { full, after: { high: bodies(high.messages), low: bodies(low.messages) } }
    },
    expect: { full: { high: ['m1'], low: ['m2'], ready: 1 }, after: { high: ['m1', 'm3'], low: ['m2'] } }
  },
  {
    name: 'consumers of equal priority above a lower one share the messages round-robin',
    async run (b) {
      const conn = await b.connect()
      const pub = await confirmChannel(conn)
      const q = b.unique('q')
      await pub.assertQueue(q, { durable: false })
      const ch = await consumerChannel(b, 0)
      const low = await inbox(ch, q, { priority: -5 })
      const one = await inbox(ch, q, { priority: 3 })
      const two = await inbox(ch, q, { priority: 3 })
      await publishAll(pub, '', q, ['m1', 'm2', 'm3', 'm4'])
      await within(Promise.all([one.until(2), two.until(2)]), 'two messages each')
      await roundTrip(ch, q)
      return { one: bodies(one.messages).length, two: bodies(two.messages).length, low: bodies(low.messages) }
    },
    expect: { one: 2, two: 2, low: [] }
  }
]
