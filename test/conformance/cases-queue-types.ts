import type { Case } from './cases'
import { body, channelError, confirmChannel, deathHeaders, eventually, within } from './observe'

/*
 * Quorum queues as the plugin declares a quorum consumer's wait queues:
 * at-least-once dead-lettering back to the consumer's queue, compared on
 * redeclare like every other argument RabbitMQ checks.
 */

/** The arguments of a quorum wait queue that dead-letters back to `queue`. */
function waitArguments (queue: string): Record<string, unknown> {
  return { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue, 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }
}

export const queueTypeCases: Case[] = [
  {
    name: 'a quorum wait queue dead-letters an expired message at least once back to its queue, whose delivery count starts again at 0',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const q = b.unique('q')
      const wait = b.unique('wait')
      await ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum' } })
      await ch.assertQueue(wait, { durable: true, arguments: waitArguments(q) })
      // A count the publisher claims is not the queue's: it counts returns itself.
      ch.sendToQueue(wait, Buffer.from('retry me'), { expiration: '50', headers: { h: 1, 'x-delivery-count': 5 } })
      await within(ch.waitForConfirms(), 'confirms')
      const back = await eventually(async () => (await ch.get(q, { noAck: true })) || undefined, 'the message back in its queue')
      return { body: body(back), headers: deathHeaders(back.properties.headers), waiting: (await ch.checkQueue(wait)).messageCount }
    },
    expect: {
      body: 'retry me',
      headers: {
        h: 1,
        'x-death': [{ count: 1, reason: 'expired', queue: '<wait>', time: '<time>', exchange: '', 'routing-keys': ['<wait>'], 'original-expiration': '50' }],
        'x-delivery-count': 0,
        'x-first-death-exchange': '',
        'x-first-death-queue': '<wait>',
        'x-first-death-reason': 'expired'
      },
      waiting: 0
    }
  },
  {
    name: 'x-dead-letter-strategy is compared on redeclare',
    async run (b) {
      const conn = await b.connect()
      const ch = await confirmChannel(conn)
      const q = b.unique('q')
      const wait = b.unique('wait')
      await ch.assertQueue(wait, { durable: true, arguments: waitArguments(q) })
      const { 'x-dead-letter-strategy': _strategy, ...without } = waitArguments(q)
      const absent = await channelError(ch, () => ch.assertQueue(wait, { durable: true, arguments: without }))
      const ch2 = await confirmChannel(conn)
      const other = await channelError(ch2, () => ch2.assertQueue(wait, { durable: true, arguments: { ...waitArguments(q), 'x-dead-letter-strategy': 'at-most-once' } }))
      return { absent: absent.error, other: other.error }
    },
    expect: {
      absent: { code: 406, text: "PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-strategy' for queue '<wait>' in vhost '/': received none but current is the value 'at-least-once' of type 'longstr'" },
      other: { code: 406, text: "PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-strategy' for queue '<wait>' in vhost '/': received 'at-most-once' but current is 'at-least-once'" }
    }
  }
]
