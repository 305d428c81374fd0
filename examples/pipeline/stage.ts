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
 * GET /asyncapi.json, GET /asyncapi → this service's AsyncAPI document, and a page showing it
 *
 * Each stage consumes the definition of its queue and lists the next one in
 * `publishes` (contracts.ts). What arrives is checked against the message's
 * JSON Schema before the handler runs: one that fails goes to the stage's
 * dead-letter queue with the reason `invalid`.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import { pipelineA, pipelineB, pipelineC, pipelineDone, type Message, type StageName } from './contracts'

/** All four definitions share the message schema, so they have one type. */
type Hop = typeof pipelineA

const STAGES: Record<StageName, { from: Hop, next: Hop, port: number, add: (m: Message) => Partial<Message> }> = {
  A: { from: pipelineA, next: pipelineB, port: 3001, add: (m) => ({ clean: m.text.trim().toLowerCase().replace(/\s+/g, ' ') }) },
  B: { from: pipelineB, next: pipelineC, port: 3002, add: (m) => ({ words: m.clean!.split(' ').filter(Boolean) }) },
  C: { from: pipelineC, next: pipelineDone, port: 3003, add: (m) => ({ wordCount: m.words!.length }) }
}

const STAGE = process.env.STAGE as StageName

run(async () => {
  const stage = STAGES[STAGE]
  if (!stage) throw new Error(`STAGE must be A, B or C, got ${process.env.STAGE}`)
  // The json-schema-to-ts type provider types msg.body from the definition's JSON Schema.
  const app = Fastify({ logger }).withTypeProvider<JsonSchemaToTsProvider>()
  const working = new Set<string>()

  await app.register(warren, { url: AMQP_URL, connectionName: `stage-${STAGE.toLowerCase()}`, publishes: [stage.next], asyncapi: true })

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
  //
  // `next` names the next stage's definition: what the handler returns is
  // typed by it and checked against it before it goes out; a result that
  // fails goes to this stage's dead-letter queue (reason invalid-result).
  app.amqp.consume(stage.from, async (msg) => {
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
