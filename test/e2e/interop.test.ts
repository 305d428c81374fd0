import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import t from 'tap'
import { http, service, vhost, waitFor } from './examples'
import { build } from '../helpers'

/*
 * fastify-warren services and Python services (pika, no fastify-warren) talk
 * to each other over plain AMQP 0-9-1: the scripts in
 * examples/request-reply/python/ against the request-reply example's services,
 * each test in a virtual host of its own. See docs/wire-format.md.
 */

const PYTHON = '/usr/bin/python3' // Debian's, with python3-pika
const SCRIPTS = join(__dirname, '..', '..', 'examples', 'request-reply', 'python')

interface TestLike {
  teardown (fn: () => unknown): void
}

/** Starts a long-running Python script (stopped with SIGTERM after the test); `output()` is all it printed so far. */
function python (t: TestLike, script: string, args: string[], amqpUrl: string) {
  const child = spawn(PYTHON, [join(SCRIPTS, script), ...args], {
    env: { ...process.env, AMQP_URL: amqpUrl },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = once(child, 'exit')
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const killer = setTimeout(() => child.kill('SIGKILL'), 10000)
    child.kill('SIGTERM')
    await exited
    clearTimeout(killer)
  })
  const output = () => stdout + stderr
  /** Resolves once `text` has been printed; rejects if the script exits first. */
  const printed = (text: string) => waitFor(`${script} to print "${text}"`, () => {
    if (child.exitCode !== null) throw new Error(`${script} exited with code ${child.exitCode}:\n${output()}`)
    return output().includes(text)
  }, 30000, output)
  return { child, stdout: () => stdout, output, printed }
}

/** Runs a Python script to its end and resolves with its exit code and output. */
async function pythonRun (script: string, args: string[], amqpUrl: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(PYTHON, [join(SCRIPTS, script), ...args], {
    env: { ...process.env, AMQP_URL: amqpUrl },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const killer = setTimeout(() => child.kill('SIGKILL'), 30000)
  const [code] = await once(child, 'close')
  clearTimeout(killer)
  return { code, stdout, stderr }
}

t.test('the shop (fastify-warren, over HTTP) gets quotes and error replies from the Python pricing server', async (t) => {
  const amqpUrl = await vhost(t)
  const server = python(t, 'server.py', [], amqpUrl)
  await server.printed('awaiting quote requests') // its queue is declared and bound
  const shop = await service(t, 'request-reply', 'shop.ts', { AMQP_URL: amqpUrl })

  const quote = await http('GET', shop.base + '/quote/tea?quantity=12')
  t.equal(quote.status, 200)
  t.same(quote.json, { sku: 'tea', name: 'Green tea, 100 g', quantity: 12, unitPrice: 450, discount: 10, total: 4860, currency: 'EUR' })

  const asks = Array.from({ length: 20 }, (_, i) => i + 1)
  const answers = await Promise.all(asks.map((n) => http('GET', `${shop.base}/quote/mug?quantity=${n}`)))
  t.same(answers.map((a) => a.json.quantity), asks, 'concurrent requests each get their own reply')

  const unknown = await http('GET', shop.base + '/quote/unicorn')
  t.equal(unknown.status, 404, 'the Python error reply carries the code the shop maps')
  t.same(unknown.json, { statusCode: 404, code: 'E_UNKNOWN_PRODUCT', error: 'Not Found', message: 'no product "unicorn"' })

  const failed = await http('GET', shop.base + '/quote/samovar')
  t.equal(failed.status, 502)
  t.equal(failed.json.code, 'FST_AMQP_RPC_REMOTE_ERROR')
  t.match(failed.json.message, /"samovar" has no price yet/)
})

t.test('the Python RPC client gets quotes from pricing.ts and sees its error replies as x-warren-error with an {"error": {message, code}} body', async (t) => {
  const amqpUrl = await vhost(t)

  const nobody = await pythonRun('client.py', ['tea', '1'], amqpUrl)
  t.equal(nobody.code, 2, 'with no pricing service, the mandatory request is returned as unroutable')
  t.match(nobody.stderr, /no queue is bound to "quote"/)

  await service(t, 'request-reply', 'pricing.ts', { AMQP_URL: amqpUrl })

  const ok = await pythonRun('client.py', ['kettle', '10'], amqpUrl)
  t.equal(ok.code, 0, ok.stderr)
  t.same(JSON.parse(ok.stdout), { sku: 'kettle', name: 'Glass kettle', quantity: 10, unitPrice: 3500, discount: 10, total: 31500, currency: 'EUR' })

  const unknown = await pythonRun('client.py', ['unicorn', '1'], amqpUrl)
  t.equal(unknown.code, 1)
  const [, header, body] = /^error reply \(x-warren-error: (\S+)\): (.*)$/m.exec(unknown.stderr) ?? []
  t.equal(header, 'E_UNKNOWN_PRODUCT', 'the x-warren-error header holds the error code')
  t.same(JSON.parse(body), { error: { message: 'no product "unicorn"', code: 'E_UNKNOWN_PRODUCT' } })

  // Quantity 0: the `quote` definition (contracts.ts) refuses it before pricing's handler runs.
  const bad = await pythonRun('client.py', ['tea', '0'], amqpUrl)
  t.equal(bad.code, 1)
  const [, badHeader, badBody] = /^error reply \(x-warren-error: (\S+)\): (.*)$/m.exec(bad.stderr) ?? []
  t.equal(badHeader, 'FST_AMQP_INVALID_MESSAGE', 'pricing checks requests from any client against its definition')
  t.match(JSON.parse(badBody), { error: { code: 'FST_AMQP_INVALID_MESSAGE', message: String, validation: [{ instancePath: '/quantity' }] } }, 'the error reply names the field that failed')
})

t.test('a Python subscriber reads what app.amqp.publish sent: content type, body, message id, delivery mode, app id', async (t) => {
  const amqpUrl = await vhost(t)
  const subscriber = python(t, 'subscriber.py', ['price.#'], amqpUrl)
  await subscriber.printed('listening on "warren"') // its queue is bound
  const app = await build(t, { url: amqpUrl, exchange: 'warren', connectionName: 'shop' })

  const json = await app.amqp.publish('price.changed', { sku: 'tea', unitPrice: 475 }, { headers: { 'x-reason': 'harvest' } })
  const text = await app.amqp.publish('price.note', 'tea costs more this year', { persistent: false, correlationId: 'note-1' })
  const bytes = await app.amqp.publish('price.raw', Buffer.from([0xca, 0xfe]))

  const lines = await waitFor('three messages', () => {
    const got = subscriber.stdout().split('\n').filter(Boolean)
    return got.length >= 3 && got.map((l) => JSON.parse(l))
  }, 15000, subscriber.output)

  t.match(lines[0], {
    routing_key: 'price.changed',
    content_type: 'application/json',
    delivery_mode: 2,
    message_id: json.messageId,
    app_id: 'shop',
    headers: { 'x-reason': 'harvest' },
    body: { sku: 'tea', unitPrice: 475 }
  })
  t.ok(Math.abs(lines[0].timestamp - Date.now() / 1000) < 600, 'timestamp is in seconds since the epoch')
  t.match(lines[1], {
    routing_key: 'price.note',
    content_type: 'text/plain; charset=utf-8',
    delivery_mode: 1,
    message_id: text.messageId,
    correlation_id: 'note-1',
    body: 'tea costs more this year'
  })
  t.match(lines[2], {
    routing_key: 'price.raw',
    content_type: 'application/octet-stream',
    delivery_mode: 2,
    message_id: bytes.messageId,
    body: 'cafe'
  })
})
