import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import t from 'tap'
import type { WarrenMessage } from '../../lib/index'
import { admin, AMQP_URL, build, collector, uniqueName } from '../helpers'
import { waitFor } from './examples'

/*
 * Single active consumer with a crash: the active consumer runs in a process
 * of its own and is killed with SIGKILL mid-sequence; the other app, waiting
 * meanwhile, must take over from the message the dead one did not finish,
 * in order, with nothing lost.
 */

const CHILD = join(__dirname, 'children', 'single-active-consumer.ts')
const ROOT = join(__dirname, '..', '..')

for (const queueType of ['classic', 'quorum'] as const) {
  t.test(`when the active consumer of a ${queueType} queue is killed, the waiting one takes over where it stopped, in order, with nothing lost`, async (t) => {
    const key = uniqueName(t)
    const { queues, exchanges } = await admin(t)
    queues.push(key)
    const exchange = uniqueName(t, 'x')
    exchanges.push(exchange)

    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      cwd: ROOT,
      env: { ...process.env, AMQP_URL, QUEUE: key, EXCHANGE: exchange, HANG_AT: '5', QUEUE_TYPE: queueType },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const output: string[] = []
    child.stdout.on('data', (d: Buffer) => output.push(d.toString()))
    child.stderr.on('data', (d: Buffer) => output.push(d.toString()))
    const exited = once(child, 'exit')
    t.teardown(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await exited
      }
    })
    const lines = () => output.join('').split('\n').filter(Boolean)
    const alive = () => child.exitCode === null && child.signalCode === null
    await waitFor('the child to consume', () => {
      if (!alive()) throw new Error(`the child exited:\n${output.join('')}`)
      return lines().includes('ready')
    }, 30000, () => output.join(''))

    const app = await build(t, {}, { ready: false })
    const taken = collector<{ n: number, redelivered: boolean }>(6)
    app.amqp.consume(key, async (msg: WarrenMessage<{ n: number }>) => {
      taken.push({ n: msg.body.n, redelivered: msg.redelivered })
    }, { exchange: '', queueType, singleActiveConsumer: true, prefetch: 1 })
    await app.ready()

    for (let n = 1; n <= 10; n++) await app.amqp.publish(key, { n }, { exchange: '' })
    await waitFor('the child to hang on message 5', () => lines().includes('got 5'), 15000, () => output.join(''))
    t.same(lines().filter((l) => l.startsWith('got ')), ['got 1', 'got 2', 'got 3', 'got 4', 'got 5'], 'the child, active, got the first five in order')
    t.same(taken.values, [], 'the app received nothing while the child was active')

    child.kill('SIGKILL')
    await exited
    const rest = await taken.done
    t.same(rest.map((m) => m.n), [5, 6, 7, 8, 9, 10], 'the app took over at the message the child did not finish, then the rest in order')
    t.ok(rest[0].redelivered, 'that one redelivered')
  })
}
