/*
 * The message the two services exchange, defined once and imported by both:
 * service 1 publishes it, service 2 consumes it. The schema (TypeBox, so
 * plain JSON Schema underneath) types `publish()` and `msg.body`, is checked
 * before service 1 sends a job and again when service 2 receives one, and
 * describes the message in each service's AsyncAPI document (/asyncapi).
 */
import { Type, type Static } from '@sinclair/typebox'
import { defineMessage } from 'fastify-warren'

export const processJob = defineMessage('process', {
  body: Type.Object({
    id: Type.String({ minLength: 1, description: 'Given by service 1; also the message id' }),
    text: Type.String({ description: 'The text posted to service 1' }),
    receivedAt: Type.String({ format: 'date-time', description: 'When service 1 accepted the request' })
  }),
  summary: 'A text to process, accepted over HTTP by service 1'
})

/** A job as it travels on the `process` routing key. */
export type Job = Static<typeof processJob.body>
