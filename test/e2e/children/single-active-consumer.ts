import Fastify from 'fastify'
import warren, { type WarrenMessage } from '../../../lib/index'

/*
 * The active consumer of test/e2e/single-active-consumer.test.ts, in a
 * process of its own so the test can kill it with SIGKILL. It consumes QUEUE
 * (single active consumer, prefetch 1), prints `ready` once consuming and
 * `got <n>` as each message reaches its handler, and never finishes the
 * handler of message HANG_AT.
 */

const queue = process.env.QUEUE!
const hangAt = Number(process.env.HANG_AT)

async function main (): Promise<void> {
  const app = Fastify({ logger: false })
  await app.register(warren, { url: process.env.AMQP_URL!, exchange: process.env.EXCHANGE! })
  app.amqp.consume(queue, async (msg: WarrenMessage<{ n: number }>) => {
    process.stdout.write(`got ${msg.body.n}\n`)
    if (msg.body.n === hangAt) await new Promise(() => {})
  }, { exchange: '', queueType: process.env.QUEUE_TYPE as 'classic' | 'quorum', singleActiveConsumer: true, prefetch: 1 })
  await app.ready()
  process.stdout.write('ready\n')
}

main().catch((err) => {
  process.stderr.write(`${String(err?.stack ?? err)}\n`)
  process.exit(1)
})
