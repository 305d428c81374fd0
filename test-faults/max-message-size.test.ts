import t from 'tap'
import { execFileSync } from 'node:child_process'
import { admin, build, outcome, rabbitmqctl, uniqueName, waitFor } from '../test/helpers'

/*
 * Lowers the broker's max_message_size below the plugin's maxMessageSize,
 * for the whole broker, so it runs serially in its own script:
 * `npm run test:faults`. The broker's limit is always put back.
 */

let original: string | undefined

async function limitTo (bytes: number): Promise<void> {
  original ??= (await rabbitmqctl('eval', 'application:get_env(rabbit, max_message_size).')).trim()
  await rabbitmqctl('eval', `application:set_env(rabbit, max_message_size, ${bytes}).`)
}

/** The eval that restores the limit read before the change (`{ok,N}`, or unset). */
function restoreExpr (): string | undefined {
  if (original === undefined) return undefined
  const m = /^\{ok,(\d+)\}$/.exec(original)
  return m ? `application:set_env(rabbit, max_message_size, ${m[1]}).` : 'application:unset_env(rabbit, max_message_size).'
}

async function restore (): Promise<void> {
  const expr = restoreExpr()
  if (expr) await rabbitmqctl('eval', expr)
  original = undefined
}

process.on('exit', () => {
  const expr = restoreExpr()
  if (expr) {
    execFileSync('rabbitmqctl', ['-q', 'eval', expr], {
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
      stdio: 'ignore'
    })
  }
})

const MiB = 1024 * 1024

t.test('a body the broker refuses (its max_message_size is below maxMessageSize) rejects with FST_AMQP_MESSAGE_TOO_LARGE; its neighbours get PUBLISH_UNCONFIRMED with that cause, and later ones go on', async (t) => {
  t.teardown(restore)
  await limitTo(MiB)
  const key = uniqueName(t)
  const { ch, queues } = await admin(t)
  queues.push(key)
  await ch.assertQueue(key, { durable: false })
  // The broker reads its limit when a channel opens: the app connects after the change.
  const app = await build(t, { reconnectDelay: 50, reconnectDelayMax: 200 })
  const publish = (body: unknown) => app.amqp.publish(key, body, { exchange: '' })

  const culprit = publish(Buffer.alloc(2 * MiB))
  const neighbours = [publish({ n: 1 }), publish({ n: 2 }), publish({ n: 3 })]
  const err: any = await culprit.catch((e) => e)
  t.equal(err.code, 'FST_AMQP_MESSAGE_TOO_LARGE', 'the culprit is named')
  t.equal(err.statusCode, 413)
  t.match(err.message, /2097152/, 'with its size')
  t.match(err.message, /1048576/, 'and the broker\'s limit')
  for (const [i, p] of neighbours.entries()) {
    const e: any = await p.then(() => undefined, (e) => e)
    if (e === undefined) continue // confirmed before the broker closed the channel
    t.equal(e.code, 'FST_AMQP_PUBLISH_UNCONFIRMED', `neighbour ${i + 1}: unconfirmed, not too large`)
    t.match(String(e.cause?.message), /larger than configured max size/, `neighbour ${i + 1}: the broker's refusal is the cause`)
  }

  // The limit is learnt: a second oversized body is refused before it is sent, and no channel closes for it.
  t.equal(await outcome(publish(Buffer.alloc(2 * MiB)), 1000), 'FST_AMQP_MESSAGE_TOO_LARGE')
  const after = await Promise.all(Array.from({ length: 20 }, (_, n) => outcome(publish({ n }), 10000)))
  t.same(new Set(after), new Set(['resolved']), 'publishing goes on: 20 more confirmed')
  t.equal(await outcome(publish(Buffer.alloc(MiB - 100)), 10000), 'resolved', 'a body under the broker\'s limit still goes')
})

t.test('a pipeline stage whose result the broker refuses for its size sends the message to the dead-letter queue without running the stage again', async (t) => {
  t.teardown(restore)
  await limitTo(MiB)
  const key = uniqueName(t)
  const next = uniqueName(t, 'next')
  const { ch, queues, take } = await admin(t)
  queues.push(key, next)
  await ch.assertQueue(next, { durable: false })
  const app = await build(t, { reconnectDelay: 50, reconnectDelayMax: 200 }, { ready: false })
  let runs = 0
  app.amqp.consume(key, async () => { runs++; return Buffer.alloc(2 * MiB) }, { next: { exchange: '', routingKey: next }, retry: { attempts: 3, delay: 50 } })
  await app.ready()
  await app.amqp.publish(key, { n: 1 })
  const dead = await waitFor('the message in the dead-letter queue', () => take(`${key}.dlq`))
  t.equal(dead.properties.headers?.['x-warren-reason'], 'unencodable-result')
  t.match(dead.properties.headers?.['x-warren-error-code'], 'FST_AMQP_MESSAGE_TOO_LARGE')
  t.equal(runs, 1, 'the stage ran once')
})
