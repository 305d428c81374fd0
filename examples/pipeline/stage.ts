/*
 * Services 2–4, a pipeline stage. Run this one file three times, with
 * STAGE=A, B and C; each takes a message from its queue, adds its part, and
 * passes the result on:
 *
 *   A: pipeline.a → adds `clean` (the text trimmed, lower-cased, single-spaced) → pipeline.b
 *   B: pipeline.b → adds `words` (the clean text split into words)            → pipeline.c
 *   C: pipeline.c → adds `wordCount`                                          → pipeline.done (the logger)
 *
 * GET /working → the ids of the messages this stage is working on right now
 */
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import type { Message, StageName } from './entry'

const STAGES: Record<StageName, { from: string, next: string, port: number, add: (m: Message) => Partial<Message> }> = {
  A: { from: 'pipeline.a', next: 'pipeline.b', port: 3001, add: (m) => ({ clean: m.text.trim().toLowerCase().replace(/\s+/g, ' ') }) },
  B: { from: 'pipeline.b', next: 'pipeline.c', port: 3002, add: (m) => ({ words: m.clean!.split(' ').filter(Boolean) }) },
  C: { from: 'pipeline.c', next: 'pipeline.done', port: 3003, add: (m) => ({ wordCount: m.words!.length }) }
}

const STAGE = process.env.STAGE as StageName

run(async () => {
  const stage = STAGES[STAGE]
  if (!stage) throw new Error(`STAGE must be A, B or C, got ${process.env.STAGE}`)
  const app = Fastify({ logger })
  const working = new Set<string>()

  await app.register(warren, { url: AMQP_URL, connectionName: `stage-${STAGE.toLowerCase()}` })

  // `next` makes this consumer a pipeline stage: what the handler returns is
  // published to the next stage (persistent, mandatory) and only once the
  // broker has confirmed it is the incoming message acked. A stage that dies
  // before that leaves the message unacked, and the broker gives it again to
  // the next process consuming this queue: nothing is lost, at worst a stage
  // is repeated. The correlation id and headers are carried forward.
  //
  // prefetch 10: a stage works on up to 10 messages at once, so a quick one
  // overtakes a slow one. Each message still goes A → B → C, but they can
  // leave the pipeline in another order than they entered it.
  app.amqp.consume<Message>(stage.from, async (msg) => {
    const m = msg.body
    working.add(m.id)
    try {
      await sleep(m.delays[STAGE] ?? 0) // the "work"
      app.log.info({ id: m.id, redelivered: msg.redelivered }, `stage ${STAGE} done`)
      return {
        ...m,
        ...stage.add(m),
        history: [...m.history, { stage: STAGE, at: new Date().toISOString(), redelivered: msg.redelivered }]
      }
    } finally {
      working.delete(m.id)
    }
  }, { next: stage.next, prefetch: 10 })

  app.get('/working', async () => [...working])

  await serve(app, stage.port)
})
