/*
 * The `quote` request and its reply, defined once and imported by both
 * services: the shop sends it with request(), pricing serves it with
 * consume(). The Zod schemas type both ends, are checked at run time (the
 * request by pricing before its handler runs, the reply by the shop), and
 * describe the request in each service's AsyncAPI document (/asyncapi).
 *
 * python/server.py and python/client.py speak the same messages without
 * this file: the schemas here are the contract they follow.
 */
import { defineRequest } from 'fastify-warren'
import { z } from 'zod'

export const quote = defineRequest('quote', {
  body: z.object({
    sku: z.string(),
    quantity: z.number().int().min(1)
  }),
  reply: z.object({
    sku: z.string(),
    name: z.string(),
    quantity: z.number().int().min(1),
    unitPrice: z.number().int().min(0).describe('In euro cents'),
    discount: z.number().min(0).max(100).describe('Percent off: 10 from 10 items up'),
    total: z.number().int().min(0).describe('In euro cents, after the discount'),
    currency: z.literal('EUR')
  }),
  summary: 'The price of a quantity of one product'
})

/** What the shop asks. */
export type QuoteRequest = z.infer<typeof quote.body>
/** What pricing answers. */
export type Quote = z.infer<typeof quote.reply>
