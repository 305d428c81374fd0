/*
 * Service 2 (pricing): answers `quote` requests from a price list.
 *
 * A request is { sku, quantity }; the reply is a Quote. The handler's return
 * value is the reply. A throw becomes an error reply carrying the error's
 * message and `code`, which the requester sees as FST_AMQP_RPC_REMOTE_ERROR.
 *
 * examples/request-reply/python/server.py answers the same requests in Python.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'

/** What the shop asks. */
export interface QuoteRequest {
  sku: string
  quantity: number
}

/** What pricing answers. Prices are in euro cents. */
export interface Quote {
  sku: string
  name: string
  quantity: number
  unitPrice: number
  /** Percent off: 10 from 10 items up. */
  discount: number
  total: number
  currency: 'EUR'
}

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

async function quote (sku: string, quantity: number): Promise<Quote> {
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
  await app.register(warren, { url: AMQP_URL, connectionName: 'pricing' })

  // A durable queue named `quote`, shared by every instance of this service:
  // each request is answered once. The reply goes to the request's reply_to
  // with its correlation_id; the request is acked once the reply is confirmed.
  app.amqp.consume<Partial<QuoteRequest> | null, Quote>('quote', async (msg) => {
    // Any client may send a request (see python/client.py): check what arrived.
    const sku = msg.body?.sku
    const quantity = msg.body?.quantity
    app.log.info({ sku, quantity }, 'quote requested')
    if (typeof sku !== 'string' || typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1) {
      throw new QuoteError('E_BAD_REQUEST', 'expected {"sku": string, "quantity": integer >= 1}')
    }
    return quote(sku, quantity)
  })

  await serve(app, 3001)
})
