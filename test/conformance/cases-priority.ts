import type { GetMessage, Options } from 'amqplib'
import type { Case } from './cases'
import type { Broker } from './brokers'
import { bodies, channel, channelError, confirmChannel, drain } from './observe'

/** A queue declared with `options`, and m1…mN published to it with the given priorities (undefined: none). */
async function prioritised (b: Broker, options: Options.AssertQueue, priorities: Array<number | undefined>) {
  const conn = await b.connect()
  const ch = await confirmChannel(conn)
  const q = b.unique('q')
  await ch.assertQueue(q, { durable: false, ...options })
  await publishWith(ch, q, priorities)
  return { conn, ch, q }
}

/** Publishes m`from`… with the given priorities and waits for the confirms. */
async function publishWith (ch: Awaited<ReturnType<typeof confirmChannel>>, q: string, priorities: Array<number | undefined>, from = 1): Promise<void> {
  priorities.forEach((priority, i) => ch.sendToQueue(q, Buffer.from(`m${from + i}`), priority === undefined ? {} : { priority }))
  await ch.waitForConfirms()
}

/** Each message as body/priority property/messageCount. */
function seen (messages: GetMessage[]): string[] {
  return messages.map((m) => `${bodies([m])[0]}/${String(m.properties.priority)}/${m.fields.messageCount}`)
}

export const priorityCases: Case[] = [
  {
    name: 'a priority queue hands out higher priorities first, FIFO within one, above the maximum as the maximum; a plain queue ignores priority',
    async run (b) {
      const priorities = [1, 5, 3, undefined, 9, 5]
      const { ch, q } = await prioritised(b, { maxPriority: 5 }, priorities)
      const plain = b.unique('plain')
      await ch.assertQueue(plain, { durable: false })
      await publishWith(ch, plain, priorities)
      return { priority: seen(await drain(ch, q)), plain: seen(await drain(ch, plain)) }
    },
    expect: {
      priority: ['m2/5/5', 'm5/9/4', 'm6/5/3', 'm3/3/2', 'm1/1/1', 'm4/undefined/0'],
      plain: ['m1/1/5', 'm2/5/4', 'm3/3/3', 'm4/undefined/2', 'm5/9/1', 'm6/5/0']
    }
  },
  {
    name: 'in a priority queue, requeued messages go back to their place within their priority',
    async run (b) {
      const { ch, q } = await prioritised(b, { maxPriority: 5 }, [1, 2, 2, 1, 2, 0])
      const taken: GetMessage[] = []
      for (let i = 0; i < 4; i++) taken.push(await ch.get(q) as GetMessage)
      ch.nack(taken[3])
      ch.nack(taken[0])
      ch.nack(taken[2])
      await publishWith(ch, q, [2, 1], 7)
      return { taken: bodies(taken), rest: seen(await drain(ch, q)) }
    },
    expect: {
      taken: ['m2', 'm3', 'm5', 'm1'],
      rest: ['m2*/2/6', 'm5*/2/5', 'm7/2/4', 'm1*/1/3', 'm4/1/2', 'm8/1/1', 'm6/0/0']
    }
  },
  {
    name: 'a priority queue has one head: max-length drops a newly published top message, and a live top message keeps expired lower ones',
    async run (b) {
      const { ch, q } = await prioritised(b, { maxPriority: 5, maxLength: 2 }, [1, 1, 5, 0])
      const maxLength = seen(await drain(ch, q))
      const ttl = b.unique('ttl')
      await ch.assertQueue(ttl, { durable: false, maxPriority: 5 })
      ch.sendToQueue(ttl, Buffer.from('low-expiring'), { priority: 1, expiration: '50' })
      ch.sendToQueue(ttl, Buffer.from('top'), { priority: 5 })
      ch.sendToQueue(ttl, Buffer.from('mid-expiring'), { priority: 3, expiration: '50' })
      await ch.waitForConfirms()
      await new Promise((resolve) => setTimeout(resolve, 200))
      const { messageCount } = await ch.checkQueue(ttl)
      return { maxLength, countAfterExpiry: messageCount, ttl: seen(await drain(ch, ttl)) }
    },
    expect: { maxLength: ['m2/1/1', 'm4/0/0'], countAfterExpiry: 3, ttl: ['top/5/0'] }
  },
  {
    name: 'x-max-priority is compared on redeclare and must be at most 255',
    async run (b) {
      const conn = await b.connect()
      const q = b.unique('q')
      await (await channel(conn)).assertQueue(q, { durable: false, maxPriority: 5 })
      const ch = await channel(conn)
      const changed = await channelError(ch, () => ch.assertQueue(q, { durable: false, maxPriority: 10 }))
      const ch2 = await channel(conn)
      const dropped = await channelError(ch2, () => ch2.assertQueue(q, { durable: false }))
      const ch3 = await channel(conn)
      const big = b.unique('big')
      const tooHigh = await channelError(ch3, () => ch3.assertQueue(big, { durable: false, maxPriority: 300 }))
      return { changed: changed.error, dropped: dropped.error, tooHigh: tooHigh.error }
    },
    expect: {
      changed: { code: 406, text: "PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue '<q>' in vhost '/': received '10' but current is '5'" },
      dropped: { code: 406, text: "PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue '<q>' in vhost '/': received none but current is the value '5' of type 'byte'" },
      tooHigh: { code: 406, text: "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '<big>' in vhost '/': {max_value_exceeded,300}" }
    }
  }
]
