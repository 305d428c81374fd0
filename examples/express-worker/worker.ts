/*
 * The worker: no web framework, no HTTP. It consumes orders (each one
 * validated against contracts.ts before the handler runs; an invalid one goes
 * to orders.placed.dlq), "stores" them, and logs each one.
 *
 * Shutdown: on SIGTERM, close(): the consumer stops receiving, the order in
 * hand finishes and is acked, then the connections close and the process
 * exits. Orders not yet delivered wait in the queue for the next worker.
 */
import { createWarren } from 'fastify-warren'
import { AMQP_URL, run } from '../common/service'
import { orderPlaced, type Order } from './contracts'
import { logger } from './log'

const stored = new Map<string, Order>()

async function main (): Promise<void> {
  const warren = createWarren({ url: AMQP_URL, logger })
  warren.consume(orderPlaced, async (msg) => {
    stored.set(msg.body.id, msg.body)
    logger.info({ order: msg.body, stored: stored.size }, 'order stored')
  })
  await warren.start()
  logger.info({}, 'worker consuming orders.placed')
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'closing')
      warren.close().then(() => process.exit(0), () => process.exit(1))
    })
  }
}

run(main)
