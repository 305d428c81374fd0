/*
 * Service 4, the reducer: asks every shard at once and combines their answers.
 *
 * GET /total?min=10&max=20 → 200 { sum, count, mean, partial, answered, failed, missing }
 *
 * One request goes out; every shard bound to `sum` gets a copy and replies
 * with its partial sum and count. The reducer waits until the three shards
 * have answered or the deadline passes, whichever comes first, and totals
 * what it has. A total with a shard missing or failed is still an answer
 * (200), marked `partial: true` and naming the shards it lacks. No shard at
 * all answering is 503; no shard ever having bound a queue is 502
 * FST_AMQP_UNROUTABLE.
 */
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import type { PartialSum, SumQuery } from './shard'

/** The shards a total needs, by their connectionName. */
const SHARDS = ['shard-1', 'shard-2', 'shard-3']
/** How long to wait for the shards, in milliseconds. */
const DEADLINE = 2000

run(async () => {
  const app = Fastify({ logger })

  await app.register(warren, { url: AMQP_URL, connectionName: 'reducer', asyncapi: true })

  app.get<{ Querystring: SumQuery }>('/total', {
    schema: {
      querystring: {
        type: 'object',
        properties: { min: { type: 'integer' }, max: { type: 'integer' } }
      }
    }
  }, async (request, reply) => {
    // Resolves with what came in time; rejects only when the request cannot
    // be sent: FST_AMQP_UNROUTABLE (502) when no queue is bound to `sum`.
    // The request expires in the shards' queues at the same deadline.
    const { replies, failed, missing } = await app.amqp.gather<PartialSum>('sum', request.query, {
      timeout: DEADLINE,
      expect: SHARDS
    })
    const sum = replies.reduce((total, r) => total + r.body.sum, 0)
    const count = replies.reduce((total, r) => total + r.body.count, 0)
    const result = {
      sum,
      count,
      mean: count > 0 ? sum / count : null,
      partial: failed.length > 0 || missing.length > 0,
      answered: replies.map((r) => r.from).sort(),
      failed: failed.map((f) => ({ shard: f.from, error: f.error.message })),
      missing
    }
    request.log.info({ answered: result.answered, failed: result.failed, missing }, 'total computed')
    // With no shard's data there is no total to give, partial or not.
    if (replies.length === 0) return reply.code(503).send({ ...result, error: 'no shard answered' })
    return result
  })

  await serve(app, 3000)
})
