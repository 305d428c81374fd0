/*
 * The message the web app and the worker exchange, defined once: the web app
 * publishes it, the worker consumes it, both validate it.
 */
import { Type, type Static } from '@sinclair/typebox'
import { defineMessage } from 'fastify-warren'

export const orderPlaced = defineMessage('orders.placed', {
  body: Type.Object({
    id: Type.String({ minLength: 1 }),
    sku: Type.String({ minLength: 1 }),
    qty: Type.Integer({ minimum: 1 })
  }),
  summary: 'An order accepted over HTTP by the web app'
})

export type Order = Static<typeof orderPlaced.body>
