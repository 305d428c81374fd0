/*
 * The web app: Express, no Fastify. POST /orders publishes an order (schema
 * checked, confirmed by the broker) through req.amqp and answers 202;
 * GET /health is the client's health (200 ok, 503 otherwise). An invalid
 * order is a 400 with the validation errors, as Fastify would answer it; a
 * broker that is away long enough is a 503 with Retry-After.
 *
 * Shutdown: stop taking requests (server.close), then close the client, so
 * that a request in flight still gets its publish confirmed.
 */
import express from 'express'
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createWarren } from 'fastify-warren'
import { warrenErrorHandler, warrenHealth, warrenMiddleware } from 'fastify-warren/express'
import { AMQP_URL, run } from '../common/service'
import { orderPlaced } from './contracts'
import { logger } from './log'

async function main (): Promise<void> {
  const warren = createWarren({ url: AMQP_URL, logger, publishes: [orderPlaced] })
  const app = express()
  app.use(express.json(), warrenMiddleware(warren))
  app.post('/orders', async (req, res) => {
    const order = { id: randomUUID(), sku: req.body?.sku, qty: req.body?.qty }
    await req.amqp.publish(orderPlaced, order, { messageId: order.id })
    res.status(202).json({ accepted: true, id: order.id })
  })
  app.get('/health', warrenHealth(warren))
  app.use(warrenErrorHandler())

  await warren.start()
  const server = app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1')
  server.once('listening', () => logger.info({ port: (server.address() as AddressInfo).port }, 'web app listening'))
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
  function shutdown (signal: string): void {
    logger.info({ signal }, 'closing')
    server.close(() => { warren.close().then(() => process.exit(0), () => process.exit(1)) })
    server.closeIdleConnections()
  }
}

run(main)
