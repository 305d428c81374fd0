/*
 * Services 1–3, a shard: holds one slice of the data and answers `sum`
 * requests with the partial sum and count over its slice.
 *
 * Run this one file three times, with SHARD=1, 2 and 3. The data is the
 * numbers 1 to 300, dealt out in turn: shard 1 holds 1, 4, 7 … 298, shard 2
 * holds 2, 5 … 299 and shard 3 holds 3, 6 … 300.
 *
 * GET /status                      → { shard, size, maintenance, requests }
 * PUT /maintenance { "on": true }  → while on, every request is answered with an error
 */
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'

/** What the reducer asks: the numbers between min and max (both included; absent = no bound). */
export interface SumQuery {
  min?: number
  max?: number
}

/** A shard's answer: sum and count, not a mean, so the reducer can combine them exactly. */
export interface PartialSum {
  sum: number
  count: number
}

const SHARD = Number(process.env.SHARD ?? 1)
const NAME = `shard-${SHARD}`
const DATA = Array.from({ length: 300 }, (_, i) => i + 1).filter((n) => (n - 1) % 3 === SHARD - 1)

run(async () => {
  if (![1, 2, 3].includes(SHARD)) throw new Error(`SHARD must be 1, 2 or 3, got ${process.env.SHARD}`)
  const app = Fastify({ logger })
  let maintenance = false
  let requests = 0

  // connectionName is sent as the app_id of every reply: it is how the
  // reducer's gather() knows which shard answered.
  await app.register(warren, { url: AMQP_URL, connectionName: NAME, asyncapi: true })

  // Every shard binds a queue of its own (sum.shard-1, sum.shard-2, …) to the
  // routing key `sum`, so each request is copied to every shard. (Sharing one
  // queue, the default, would hand each request to one shard only.) Two
  // processes with the same SHARD share its queue: a replica, not a duplicate.
  app.amqp.consume<SumQuery>('sum', async (msg) => {
    requests++
    // A throw is sent back as an error reply: the reducer lists this shard
    // under `failed` at once instead of waiting for the deadline.
    if (maintenance) throw Object.assign(new Error(`${NAME} is under maintenance`), { code: 'SHARD_MAINTENANCE' })
    const { min = -Infinity, max = Infinity } = msg.body
    const numbers = DATA.filter((n) => n >= min && n <= max)
    const partial: PartialSum = { sum: numbers.reduce((a, b) => a + b, 0), count: numbers.length }
    app.log.info({ min, max, ...partial }, 'partial sum sent')
    return partial // the reply
  }, { queue: `sum.${NAME}` })

  app.get('/status', async () => ({ shard: NAME, size: DATA.length, maintenance, requests }))

  app.put<{ Body: { on: boolean } }>('/maintenance', {
    schema: {
      body: { type: 'object', required: ['on'], properties: { on: { type: 'boolean' } } }
    }
  }, async (request) => {
    maintenance = request.body.on
    return { shard: NAME, maintenance }
  })

  await serve(app, 3000 + SHARD)
})
