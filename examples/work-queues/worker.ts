/*
 * Services 2, 3, ...: a worker. Run this one file as many times as you like;
 * every instance takes tasks from the same `task_queue`.
 *
 * GET /done → { worker, working, done }: this worker's name, the task in hand
 *             (or null) and the tasks it finished, with their timings.
 *
 * WORKER_NAME names the instance (default `worker-<pid>`). SLOWDOWN multiplies
 * every task's cost (default 1), so one instance can play a slow machine.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import warren from 'fastify-warren'
import { AMQP_URL, logger, run, serve } from '../common/service'
import type { Task } from './producer'

const WORKER_NAME = process.env.WORKER_NAME ?? `worker-${process.pid}`
const SLOWDOWN = Number(process.env.SLOWDOWN ?? 1)

/** A task this worker finished. */
interface DoneTask extends Task {
  /** ISO timestamps of when the work began and ended. */
  startedAt: string
  finishedAt: string
  /** How long the work took here, in milliseconds. */
  ms: number
  /** True when the broker had given this task to a worker before (one that died holding it). */
  redelivered: boolean
}

run(async () => {
  if (!(SLOWDOWN > 0)) throw new Error(`SLOWDOWN must be a positive number, got ${process.env.SLOWDOWN}`)
  const app = Fastify({ logger })
  let working: (Task & { startedAt: string }) | null = null
  const done: DoneTask[] = []

  // connectionName: `rabbitmqctl list_connections name` shows which worker is which.
  await app.register(warren, { url: AMQP_URL, connectionName: WORKER_NAME, asyncapi: true })

  // The queue `task_queue` is durable and shared by every instance: each task
  // goes to one worker only. prefetch 1 is fair dispatch: the broker sends this
  // worker its next task only after it has acked the previous one (the handler
  // resolved), so a busy or slow worker is skipped and an idle one gets the task.
  // The ack comes after the work: a worker that dies mid-task never acked it,
  // so the broker gives it to another worker.
  app.amqp.consume<Task>('task_queue', async (msg) => {
    const task = msg.body
    if (typeof task?.id !== 'string' || typeof task.cost !== 'number') {
      // Retrying cannot fix a malformed message: log it and let it be acked.
      app.log.warn({ messageId: msg.properties.messageId }, 'malformed task dropped')
      return
    }
    const started = Date.now()
    working = { ...task, startedAt: new Date(started).toISOString() }
    app.log.info({ id: task.id, cost: task.cost, redelivered: msg.redelivered }, 'task started')
    await sleep(task.cost * SLOWDOWN) // the "work"
    working = null
    done.push({
      ...task,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date().toISOString(),
      ms: Date.now() - started,
      redelivered: msg.redelivered
    })
    if (done.length > 10000) done.shift()
    app.log.info({ id: task.id, ms: Date.now() - started }, 'task done')
  }, { prefetch: 1 })

  app.get('/done', async () => ({ worker: WORKER_NAME, working, done }))

  await serve(app, 3001)
})
