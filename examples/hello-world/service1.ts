/*
 * Service 1: accepts work over HTTP and queues it on RabbitMQ.
 *
 * POST /process { "text": "..." } → 202 { queued: true, id }
 *
 * The job is published with the `processJob` definition (contracts.ts), so
 * its shape is checked when this file compiles and again before it is sent.
 * The reply is sent only once the broker has confirmed the message. If no
 * queue is bound to the routing key (service 2 never ran), publish() rejects
 * with FST_AMQP_UNROUTABLE and Fastify answers 502 with that code.
 *
 * GET /asyncapi.json, GET /asyncapi → this service's AsyncAPI document, and a page showing it
 */
import { randomUUID } from 'node:crypto'
import { Type, type Static } from '@sinclair/typebox'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, isMain, logger, run, serve } from '../common/service'
import { processJob, type Job } from './contracts'

/** What POST /process takes: the job's text, nothing else. */
const ProcessRequest = Type.Pick(processJob.body, ['text'])

/** Service 1 as an app, not yet listening: `url` is the broker (a test passes memory://<name>). */
export async function buildService1 (url = AMQP_URL, options: FastifyServerOptions = { logger }): Promise<FastifyInstance> {
  const app = Fastify(options)

  // `publishes` puts the job in the AsyncAPI document before the first one is sent.
  await app.register(warren, { url, publishes: [processJob], asyncapi: true })

  app.post<{ Body: Static<typeof ProcessRequest> }>('/process', {
    schema: { body: ProcessRequest }
  }, async (request, reply) => {
    const job: Job = { id: randomUUID(), text: request.body.text, receivedAt: new Date().toISOString() }
    // Resolves once RabbitMQ confirms; a coded error (502, 503...) escapes to Fastify otherwise.
    await app.amqp.publish(processJob, job, { messageId: job.id })
    request.log.info({ id: job.id }, 'queued')
    return reply.code(202).send({ queued: true, id: job.id })
  })

  return app
}

if (isMain(__filename)) run(async () => serve(await buildService1(), 3000))
