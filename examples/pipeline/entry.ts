/*
 * Service 1, the entry: turns an HTTP request into a message for the first
 * stage of the pipeline, A.
 *
 * POST /messages { "text": "...", "delays": { "B": 2000 } } → 202 { id }
 *
 * `delays` says how long each stage works on this message, in milliseconds
 * (0 when absent): the simulated cost of the work, carried in the message so
 * that each message can take a different time at each stage.
 */
import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'

export type StageName = 'A' | 'B' | 'C'

/** One step of a message's journey: who handled it, and when it left them. */
export interface HistoryEntry {
  stage: 'entry' | StageName | 'logger'
  /** ISO timestamp. */
  at: string
  /** Set by the stages: true when the broker had delivered the message to this stage before (which died holding it). */
  redelivered?: boolean
}

/** The message as it travels: each stage adds its field and a history entry. */
export interface Message {
  id: string
  text: string
  delays: Partial<Record<StageName, number>>
  /** Added by A: the text trimmed, lower-cased, single-spaced. */
  clean?: string
  /** Added by B: the clean text's words. */
  words?: string[]
  /** Added by C: how many words. */
  wordCount?: number
  history: HistoryEntry[]
}

const delay = { type: 'integer', minimum: 0, maximum: 60000 }

run(async () => {
  const app = Fastify({ logger })

  await app.register(warren, { url: AMQP_URL, connectionName: 'entry' })

  app.post<{ Body: Pick<Message, 'text' | 'delays'> }>('/messages', {
    schema: {
      body: {
        type: 'object',
        required: ['text'],
        properties: {
          text: { type: 'string', maxLength: 10000 },
          delays: { type: 'object', properties: { A: delay, B: delay, C: delay }, additionalProperties: false }
        }
      }
    }
  }, async (request, reply) => {
    const id = randomUUID()
    const message: Message = {
      id,
      text: request.body.text,
      delays: request.body.delays ?? {},
      history: [{ stage: 'entry', at: new Date().toISOString() }]
    }
    // The correlation id is set once, here; every stage passes it on with its
    // result, so the logger (or anyone tracing) can tie the hops together.
    // Persistent and mandatory (the defaults): 502 FST_AMQP_UNROUTABLE if stage A never ran.
    await app.amqp.publish<Message>('pipeline.a', message, { messageId: id, correlationId: id })
    request.log.info({ id }, 'message sent down the pipeline')
    return reply.code(202).send({ id })
  })

  await serve(app, 3000)
})
