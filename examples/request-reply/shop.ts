/*
 * Service 1 (shop): turns an HTTP GET into a `quote` request to the pricing
 * service and answers with its reply.
 *
 * GET /quote/:sku?quantity=N → 200 Quote
 * GET /asyncapi.json, GET /asyncapi → this service's AsyncAPI document, and a page showing it
 *
 * The request goes out with the `quote` definition (contracts.ts): its body is
 * type-checked here and validated before it is sent, and the reply is
 * validated before request() resolves with it.
 *
 * When the request fails, Fastify answers with the error's status and code:
 *   504 FST_AMQP_RPC_TIMEOUT       no reply within QUOTE_TIMEOUT
 *   502 FST_AMQP_UNROUTABLE        no queue is bound to `quote` (pricing never ran)
 *   502 FST_AMQP_RPC_REMOTE_ERROR  pricing failed; the message carries its message
 *   502 FST_AMQP_INVALID_REPLY     the reply is not a Quote as contracts.ts describes it
 * except an unknown product, which is the client's mistake: 404 E_UNKNOWN_PRODUCT.
 */
import Fastify from 'fastify'
import warren, { errors, type RemoteError } from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import { quote } from './contracts'

/** How long a quote may take, in milliseconds; also how long the request waits in the queue. */
const QUOTE_TIMEOUT = 2000

run(async () => {
  const app = Fastify({ logger })

  await app.register(warren, { url: AMQP_URL, connectionName: 'shop', publishes: [quote], asyncapi: true })

  app.get<{ Params: { sku: string }, Querystring: { quantity: number } }>('/quote/:sku', {
    schema: {
      params: {
        type: 'object',
        properties: { sku: { type: 'string', pattern: '^[a-z0-9-]{1,40}$' } }
      },
      querystring: {
        type: 'object',
        properties: { quantity: { type: 'integer', minimum: 1, maximum: 10000, default: 1 } }
      }
    }
  }, async (request, reply) => {
    const { sku } = request.params
    const { quantity } = request.query
    try {
      // The request expires in the queue after QUOTE_TIMEOUT too, so a quote
      // nobody took in time is dropped by the broker, not computed for no one.
      return await app.amqp.request(quote, { sku, quantity }, { timeout: QUOTE_TIMEOUT })
    } catch (err) {
      // The remote error's own code is in err.remote. Pricing did its job when
      // it says the product does not exist: pass that on as a 404.
      if (err instanceof errors.FST_AMQP_RPC_REMOTE_ERROR) {
        const { remote } = err as RemoteError
        if (remote.code === 'E_UNKNOWN_PRODUCT') {
          return reply.code(404).send({ statusCode: 404, code: remote.code, error: 'Not Found', message: remote.message })
        }
      }
      throw err // any other failure is upstream's: 502, 503 or 504 with its FST_AMQP_* code
    }
  })

  await serve(app, 3000)
})
