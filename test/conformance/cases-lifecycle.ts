import type { Case } from './cases'
import { bodies, channel, channelError, confirmChannel, errorView, eventually, inbox, publishAll } from './observe'
import type { Broker } from './brokers'

/** Whether `queue` exists, asked on a throwaway channel (a 404 closes the channel it is asked on). */
async function queueState (b: Broker, queue: string): Promise<unknown> {
  const conn = await b.connect()
  const ch = await channel(conn)
  try {
    const ok = await ch.checkQueue(queue)
    return { consumerCount: ok.consumerCount }
  } catch (err) {
    return errorView(err)
  } finally {
    await conn.close().catch(() => {})
  }
}

/** Polls until the queue is gone, and says what the 404 looked like. */
function gone (b: Broker, queue: string): Promise<unknown> {
  return eventually(async () => {
    const state = await queueState(b, queue) as { code?: number }
    return state.code === 404 ? state : undefined
  }, `${queue} to be deleted`)
}

export const lifecycleCases: Case[] = [
  {
    name: 'a passive declare of a missing queue closes the channel with 404',
    async run (b) {
      const ch = await channel(await b.connect())
      const q = b.unique('missing')
      return channelError(ch, () => ch.checkQueue(q))
    },
    expect: {
      error: { code: 404, text: "NOT_FOUND - no queue '<missing>' in vhost '/'" },
      rejected: { code: 404, text: "NOT_FOUND - no queue '<missing>' in vhost '/'" },
      later: 'Channel closed'
    }
  },
  {
    name: 'a passive declare of a missing exchange closes the channel with 404',
    async run (b) {
      const ch = await channel(await b.connect())
      const x = b.unique('missing')
      return channelError(ch, () => ch.checkExchange(x))
    },
    expect: {
      error: { code: 404, text: "NOT_FOUND - no exchange '<missing>' in vhost '/'" },
      rejected: { code: 404, text: "NOT_FOUND - no exchange '<missing>' in vhost '/'" },
      later: 'Channel closed'
    }
  },
  {
    name: 'publishing to a missing exchange closes the channel with 404 and nacks nothing silently',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const x = b.unique('missing')
      const confirms: string[] = []
      const closed = await channelError(ch, () => {
        ch.publish(x, 'k', Buffer.from('lost'), { mandatory: true }, (err) => confirms.push(err ? `nack: ${(err as Error).message.split('\n')[0]}` : 'ack'))
      })
      return { ...closed, confirms }
    },
    expect: {
      error: { code: 404, text: "NOT_FOUND - no exchange '<missing>' in vhost '/'" },
      rejected: null,
      later: 'Channel closed',
      confirms: ['nack: channel closed']
    }
  },
  {
    name: 'redeclaring a queue with another message TTL closes the channel with 406',
    async run (b) {
      const conn = await b.connect()
      const q = b.unique('q')
      await (await channel(conn)).assertQueue(q, { durable: false, messageTtl: 100 })
      const ch = await channel(conn)
      const changed = await channelError(ch, () => ch.assertQueue(q, { durable: false, messageTtl: 200 }))
      const ch2 = await channel(conn)
      const added = await channelError(ch2, () => ch2.assertQueue(q, { durable: false, messageTtl: 100, maxLength: 5 }))
      const ch3 = await channel(conn)
      const durable = await channelError(ch3, () => ch3.assertQueue(q, { durable: true, messageTtl: 100 }))
      return { changed: changed.error, added: added.error, durable: durable.error }
    },
    expect: {
      changed: { code: 406, text: "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue '<q>' in vhost '/': received '200' but current is '100'" },
      added: { code: 406, text: "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '<q>' in vhost '/': received the value '5' of type 'byte' but current is none" },
      durable: { code: 406, text: "PRECONDITION_FAILED - inequivalent arg 'durable' for queue '<q>' in vhost '/': received 'true' but current is 'false'" }
    }
  },
  {
    name: 'redeclaring an exchange with another type closes the channel with 406',
    async run (b) {
      const conn = await b.connect()
      const x = b.unique('x')
      await (await channel(conn)).assertExchange(x, 'topic', { durable: false })
      const ch = await channel(conn)
      return (await channelError(ch, () => ch.assertExchange(x, 'direct', { durable: false }))).error
    },
    expect: { code: 406, text: "PRECONDITION_FAILED - inequivalent arg 'type' for exchange '<x>' in vhost '/': received 'direct' but current is 'topic'" }
  },
  {
    name: 'declaring an exchange named amq.* is refused with 403',
    async run (b) {
      const ch = await channel(await b.connect())
      const x = 'amq.' + b.unique('x')
      return (await channelError(ch, () => ch.assertExchange(x, 'direct', { durable: false }))).error
    },
    expect: { code: 403, text: "ACCESS_REFUSED - exchange name 'amq.<x>' contains reserved prefix 'amq.*'" }
  },
  {
    name: 'an exclusive queue is locked to its connection and deleted when that connection closes',
    async run (b) {
      const owner = await b.connect()
      const q = b.unique('excl')
      await (await channel(owner)).assertQueue(q, { exclusive: true, durable: false })
      const other = await channel(await b.connect())
      const locked = await channelError(other, () => other.checkQueue(q))
      await owner.close()
      return { locked: locked.error, after: await gone(b, q) }
    },
    expect: {
      locked: { code: 405, text: "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '<excl>' in vhost '/'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration." },
      after: { code: 404, text: "NOT_FOUND - no queue '<excl>' in vhost '/'" }
    }
  },
  {
    name: 'an auto-delete queue outlives its first cancelled consumer and is deleted after its last one',
    async run (b) {
      const conn = await b.connect()
      const ch = await channel(conn)
      const q = b.unique('auto')
      await ch.assertQueue(q, { autoDelete: true, durable: false })
      const before = await queueState(b, q)
      const one = await ch.consume(q, () => {})
      const two = await ch.consume(q, () => {})
      await ch.cancel(one.consumerTag)
      const afterOne = await queueState(b, q)
      await ch.cancel(two.consumerTag)
      return { before, afterOne, afterLast: await gone(b, q) }
    },
    expect: {
      before: { consumerCount: 0 },
      afterOne: { consumerCount: 1 },
      afterLast: { code: 404, text: "NOT_FOUND - no queue '<auto>' in vhost '/'" }
    }
  },
  {
    name: 'deleting a queue cancels its consumer, whose callback gets null',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const q = b.unique('q')
      await ch.assertQueue(q, { durable: false })
      const consumer = await inbox(ch, q, { noAck: true })
      await publishAll(ch, '', q, ['m1'])
      await consumer.until(1)
      const deleted = await (await channel(conn)).deleteQueue(q)
      return { deleted, got: bodies(await consumer.until(2)) }
    },
    expect: { deleted: { messageCount: 0 }, got: ['m1', 'null'] }
  }
]
