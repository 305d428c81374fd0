/*
 * Service 1, the producer: turns an HTTP request into tasks on `task_queue`.
 *
 * POST /tasks { "costs": [300, 50, 1200] } → 202 { tasks: [{ id, cost }, ...] }
 *
 * Each cost (milliseconds) becomes one task with an id of its own. Tasks are
 * published one by one, persistent, and the answer is sent only once the
 * broker has confirmed every one of them: a 202 means they are in the queue.
 */
import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'

/** What the producer publishes on the `task_queue` routing key. */
export interface Task {
  id: string
  /** How long the task takes a worker whose SLOWDOWN is 1, in milliseconds. */
  cost: number
}

run(async () => {
  const app = Fastify({ logger })

  await app.register(warren, { url: AMQP_URL, asyncapi: true })

  app.post<{ Body: { costs: number[] } }>('/tasks', {
    schema: {
      body: {
        type: 'object',
        required: ['costs'],
        properties: {
          costs: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'integer', minimum: 0, maximum: 60000 } }
        }
      }
    }
  }, async (request, reply) => {
    const tasks: Task[] = request.body.costs.map((cost) => ({ id: randomUUID(), cost }))
    for (const task of tasks) {
      // persistent: the task is written to disk and survives a broker restart
      // (it sits in a durable queue). mandatory (the default): if no worker has
      // ever declared task_queue, the publish fails with FST_AMQP_UNROUTABLE (502)
      // instead of the task vanishing. Resolves once the broker confirms.
      await app.amqp.publish<Task>('task_queue', task, { messageId: task.id, persistent: true })
    }
    request.log.info({ count: tasks.length }, 'tasks queued')
    return reply.code(202).send({ tasks })
  })

  await serve(app, 3000)
})
