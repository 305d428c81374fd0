/*
 * The pipeline's messages, one definition per queue, in plain JSON Schema.
 * Every hop carries the same message: the entry sends it with `id`, `text`,
 * `delays` and a first history entry, and each stage adds its field (`clean`,
 * `words`, `wordCount`) and a history entry, so those fields are optional.
 *
 * A plain JSON Schema gives no TypeScript type by itself: the services get
 * one from Fastify's json-schema-to-ts type provider,
 * `app.withTypeProvider<JsonSchemaToTsProvider>().amqp`, as a route's handler
 * would. `Message` below is the same type, for code outside a handler.
 *
 * Each consumer checks what it receives against its definition before its
 * handler runs; a message that fails goes to that queue's dead-letter queue
 * (`pipeline.b.dlq` for stage B) with the reason `invalid`.
 */
import { defineMessage } from 'fastify-warren'
import type { FromSchema } from 'json-schema-to-ts'

/** How long a stage works on a message, in milliseconds. */
const delay = { type: 'integer', minimum: 0, maximum: 60000 } as const

/** The message as it travels, from the entry to the logger. */
export const messageSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'Given by the entry; also the correlation id of every hop' },
    text: { type: 'string', maxLength: 10000 },
    delays: {
      type: 'object',
      description: 'How long each stage works on this message (0 when absent): a stand-in for work that costs more for some messages',
      properties: { A: delay, B: delay, C: delay },
      additionalProperties: false
    },
    clean: { type: 'string', description: 'Added by A: the text trimmed, lower-cased, single-spaced' },
    words: { type: 'array', items: { type: 'string' }, description: 'Added by B: the clean text\'s words' },
    wordCount: { type: 'integer', minimum: 0, description: 'Added by C: how many words' },
    history: {
      type: 'array',
      description: 'One entry per service the message went through, in order',
      items: {
        type: 'object',
        properties: {
          stage: { enum: ['entry', 'A', 'B', 'C', 'logger'] },
          at: { type: 'string', format: 'date-time', description: 'When it left that service' },
          redelivered: { type: 'boolean', description: 'Set by the stages: the broker had given the message to this stage before (which died holding it)' }
        },
        required: ['stage', 'at']
      }
    }
  },
  required: ['id', 'text', 'delays', 'history']
} as const

/** The message, as TypeScript sees it. */
export type Message = FromSchema<typeof messageSchema>
export type HistoryEntry = Message['history'][number]
export type StageName = 'A' | 'B' | 'C'

export const pipelineA = defineMessage('pipeline.a', { body: messageSchema, summary: 'A message for stage A, from the entry' })
export const pipelineB = defineMessage('pipeline.b', { body: messageSchema, summary: 'A message for stage B: A has added `clean`' })
export const pipelineC = defineMessage('pipeline.c', { body: messageSchema, summary: 'A message for stage C: B has added `words`' })
export const pipelineDone = defineMessage('pipeline.done', { body: messageSchema, summary: 'A finished message, for the logger: C has added `wordCount`' })
