/*
 * Service 2 (pricing): answers `quote` requests from a price list.
 *
 * It serves the `quote` definition (contracts.ts): a request is
 * { sku, quantity }, the reply a Quote. The request is checked against the
 * definition before the handler runs; one that fails it (from a client that
 * does not use contracts.ts, say python/client.py) is answered with an error
 * reply whose code is FST_AMQP_INVALID_MESSAGE, and the handler never sees it.
 * The handler's return value is the reply. A throw becomes an error reply
 * carrying the error's message and `code`, which the requester sees as
 * FST_AMQP_RPC_REMOTE_ERROR.
 *
 * GET /asyncapi.json, GET /asyncapi → this service's AsyncAPI document, and a page showing it
 *
 * examples/request-reply/python/server.py answers the same requests in Python.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import { quote, type Quote } from './contracts'

interface Product {
  name: string
  /** null: in the catalogue, but not priced yet. */
  unitPrice: number | null
  /** Priced by the workshop on request, which takes a while. */
  madeToOrder?: boolean
}

const PRODUCTS: Record<string, Product> = {
  tea: { name: 'Green tea, 100 g', unitPrice: 450 },
  mug: { name: 'Stoneware mug', unitPrice: 1200 },
  kettle: { name: 'Glass kettle', unitPrice: 3500 },
  teapot: { name: 'Hand-thrown teapot', unitPrice: 8900, madeToOrder: true },
  samovar: { name: 'Brass samovar', unitPrice: null }
}

/** How long the workshop takes to confirm a made-to-order price, in milliseconds. */
const WORKSHOP_DELAY = 5000

/** An error whose `code` travels to the requester in the error reply. */
class QuoteError extends Error {
  constructor (readonly code: string, message: string) {
    super(message)
  }
}

async function priceOf (sku: string, quantity: number): Promise<Quote> {
  const product = Object.hasOwn(PRODUCTS, sku) ? PRODUCTS[sku] : undefined
  if (!product) throw new QuoteError('E_UNKNOWN_PRODUCT', `no product "${sku}"`)
  if (product.unitPrice === null) throw new QuoteError('E_NO_PRICE', `"${sku}" has no price yet`)
  if (product.madeToOrder) await sleep(WORKSHOP_DELAY) // stands for a call to the workshop's slow API
  const discount = quantity >= 10 ? 10 : 0
  const total = Math.round(product.unitPrice * quantity * (100 - discount) / 100)
  return { sku, name: product.name, quantity, unitPrice: product.unitPrice, discount, total, currency: 'EUR' }
}

run(async () => {
  const app = Fastify({ logger })

  // connectionName is also the app_id of every reply, so callers can tell who answered.
  await app.register(warren, { url: AMQP_URL, connectionName: 'pricing', asyncapi: true })

  // A durable queue named `quote`, shared by every instance of this service:
  // each request is answered once. The reply goes to the request's reply_to
  // with its correlation_id; the request is acked once the reply is sent.
  // Any client may send a request, but only one the definition accepts gets
  // here: msg.body is { sku: string, quantity: integer >= 1 }, and the handler
  // must return a Quote.
  app.amqp.consume(quote, async (msg) => {
    const { sku, quantity } = msg.body
    app.log.info({ sku, quantity }, 'quote requested')
    return priceOf(sku, quantity)
  })

  await serve(app, 3001)
})
