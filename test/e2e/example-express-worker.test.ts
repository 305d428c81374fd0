import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { http, service, vhost, waitFor } from './examples'

/*
 * The Express + bare worker example, run as a user runs it: the worker (no
 * HTTP, createWarren) and the Express web app as real processes.
 */

const ROOT = join(__dirname, '..', '..')

t.test('the express-worker example', async (t) => {
  const env = { AMQP_URL: await vhost(t) }
  const worker = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'examples', 'express-worker', 'worker.ts')], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe']
  })
  const output: string[] = []
  worker.stdout!.on('data', (d: Buffer) => output.push(d.toString()))
  worker.stderr!.on('data', (d: Buffer) => output.push(d.toString()))
  const exited = once(worker, 'exit')
  t.teardown(() => { if (worker.exitCode === null) worker.kill('SIGKILL') })
  await waitFor('the worker to consume', () => output.join('').includes('worker consuming'), 20000, () => output.join(''))

  const web = await service(t, 'express-worker', 'web.ts', env)

  await t.test('a POSTed order is published through req.amqp, answered 202, and stored by the worker', async (t) => {
    const { status, json } = await http('POST', web.base + '/orders', { sku: 'AB-1', qty: 2 })
    t.equal(status, 202)
    t.type(json.id, 'string')
    await waitFor('the worker to store it', () => output.join('').includes(json.id), 15000, () => output.join(''))
  })

  await t.test('an invalid order is a 400 with the validation errors, as Fastify would answer', async (t) => {
    const { status, json } = await http('POST', web.base + '/orders', { sku: 'AB-1', qty: 0 })
    t.equal(status, 400)
    t.equal(json.code, 'FST_AMQP_INVALID_MESSAGE')
    t.ok(Array.isArray(json.validation) && json.validation.length > 0)
  })

  await t.test('GET /health is 200 with the client health', async (t) => {
    const { status, json } = await http('GET', web.base + '/health')
    t.equal(status, 200)
    t.equal(json.status, 'ok')
  })

  await t.test('SIGTERM closes the worker cleanly: it logs amqp closed and exits 0', async (t) => {
    worker.kill('SIGTERM')
    const [code] = await exited
    t.equal(code, 0, 'exits 0', { output: output.join('').slice(-2000) })
    t.match(output.join(''), /amqp closed/)
  })
})
