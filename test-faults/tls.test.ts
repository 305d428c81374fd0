import t, { type Test } from 'tap'
import { copyFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import warren, { type WarrenMessage } from '../lib/index'
import { collector, uniqueName, waitFor } from '../test/helpers'
import { makeCerts } from '../test/tls-certs'
import { freePort } from '../test/free-port'
import { canStartNodes, startNode, type RabbitNode } from './helpers/nodes'

/*
 * TLS against RabbitMQ nodes of the test's own (never the shared broker on
 * 5672), with certificates made by openssl for the test: a CA, the nodes'
 * certificate for localhost and 127.0.0.1, a client certificate whose common
 * name is a user of the nodes (for EXTERNAL), and an unrelated CA. Two nodes,
 * started side by side: one that verifies a client certificate when there is
 * one (fail_if_no_peer_cert = false), one that requires it.
 */

t.setTimeout(300_000)

const canStart = canStartNodes()
const skip = !canStart && 'RabbitMQ\'s scripts (/usr/lib/rabbitmq/bin) are not on this machine: no nodes of the test\'s own'

const USER = 'warren-client'
const certs = makeCerts(USER)
t.teardown(() => certs.remove())

interface TlsNode { node: RabbitNode, port: number, url: string }

async function tlsNode (name: string, requireClientCert: boolean): Promise<TlsNode> {
  const port = await freePort()
  const node = await startNode(t, {
    name,
    plugins: ['rabbitmq_auth_mechanism_ssl'],
    config: [
      `listeners.ssl.default = ${port}`,
      `ssl_options.cacertfile = ${certs.ca.certFile}`,
      `ssl_options.certfile = ${certs.server.certFile}`,
      `ssl_options.keyfile = ${certs.server.keyFile}`,
      'ssl_options.verify = verify_peer',
      `ssl_options.fail_if_no_peer_cert = ${requireClientCert}`,
      'auth_mechanisms.1 = PLAIN',
      'auth_mechanisms.2 = EXTERNAL',
      'ssl_cert_login_from = common_name'
    ]
  })
  // The user EXTERNAL logs in as, named by the client certificate (its password is never used).
  await node.ctl(['add_user', USER, 'unused-' + Math.random().toString(36).slice(2)])
  await node.ctl(['set_permissions', '-p', '/', USER, '.*', '.*', '.*'])
  return { node, port, url: `amqps://localhost:${port}` }
}

/** One pair of nodes for the whole file: each takes about ten seconds to start. */
const nodes = canStart ? Promise.all([tlsNode('tls', false), tlsNode('mtls', true)]) : undefined
nodes?.catch(() => {}) // reported by the first test that awaits it

/** An app with the plugin registered (connected, consumers not started), its log lines kept; closed after the test. */
async function app (t: Test, options: Record<string, unknown>): Promise<{ app: FastifyInstance, lines: string[] }> {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(chunk.toString()); cb() } })
  const instance = Fastify({ logger: { level: 'debug', stream }, pluginTimeout: 60000 })
  t.teardown(() => instance.close())
  await instance.register(warren, { exchange: uniqueName(t, 'x'), ...options } as any)
  return { app: instance, lines }
}

type BootError = Error & { code?: string, cause?: { code?: string, message?: string } }

async function bootError (t: Test, options: Record<string, unknown>): Promise<BootError> {
  return await app(t, options).then(({ app: a }) => a.ready()).then(() => { throw new Error('booted') }, (err: BootError) => err)
}

/** The broker's view of its client connections: user, SASL mechanism, TLS. */
async function connections (node: RabbitNode): Promise<Array<{ user: string, auth_mechanism: string, ssl: boolean, name: string }>> {
  return JSON.parse(await node.ctl(['list_connections', 'user', 'auth_mechanism', 'ssl', 'name', '--formatter', 'json']))
}

t.test('over amqps:// with tls.ca, the plugin connects, and publish, consume and request() work', { skip }, async (t) => {
  const [{ url, node }] = await nodes!
  const { app: a } = await app(t, { url: url.replace('amqps://', 'amqps://guest:guest@'), tls: { ca: certs.ca.cert } })
  const key = uniqueName(t)
  const got = collector<WarrenMessage<{ n: number }>>(3)
  a.amqp.consume(key, async (msg: WarrenMessage<{ n: number }>) => { got.push(msg) }, { exclusive: true })
  a.amqp.consume(`${key}.rpc`, async (msg: WarrenMessage<{ a: number, b: number }>) => ({ sum: msg.body.a + msg.body.b }), { exclusive: true })
  await a.ready()
  for (let n = 1; n <= 3; n++) await a.amqp.publish(key, { n })
  t.same((await got.done).map((m) => m.body.n), [1, 2, 3], 'published and consumed in order')
  t.same(await a.amqp.request(`${key}.rpc`, { a: 2, b: 3 }, { timeout: 10000 }), { sum: 5 }, 'request() answered')
  t.equal(a.amqp.health().status, 'ok')
  const list = await connections(node)
  t.equal(list.length, 2, 'the publishing and the consuming connection')
  t.ok(list.every((c) => c.ssl && c.user === 'guest' && c.auth_mechanism === 'PLAIN'), 'both over TLS, logged in with PLAIN')
})

t.test('mutual TLS with auth "external" logs in as the client certificate\'s user, with no password in the URL', { skip }, async (t) => {
  const [, { url, node }] = await nodes!
  for (const [what, tls] of [
    ['cert and key', { ca: certs.ca.cert, cert: certs.client.cert, key: certs.clientKeyEncrypted, passphrase: certs.passphrase }],
    ['pfx', { pfx: certs.clientPfx, passphrase: certs.passphrase }]
  ] as const) {
    const { app: a } = await app(t, { url, tls, auth: 'external' })
    const key = uniqueName(t)
    const got = collector<WarrenMessage<string>>(1)
    a.amqp.consume(key, async (msg: WarrenMessage<string>) => { got.push(msg) }, { exclusive: true })
    await a.ready()
    await a.amqp.publish(key, what)
    t.equal((await got.done)[0].body, what, `${what}: a message went round`)
    const list = await connections(node)
    t.same(list.map((c) => [c.user, c.auth_mechanism, c.ssl]), [[USER, 'EXTERNAL', true], [USER, 'EXTERNAL', true]], `${what}: both connections are the certificate's user, by EXTERNAL`)
    await a.close()
  }
})

t.test('a broker certificate of a CA not in tls.ca fails boot at once with FST_AMQP_TLS, not at connectTimeout', { skip }, async (t) => {
  const [{ url }] = await nodes!
  const err = await bootError(t, { url: url.replace('amqps://', 'amqps://guest:guest@'), tls: { ca: certs.otherCa.cert }, connectTimeout: 20000 })
  t.equal(err.code, 'FST_AMQP_TLS', 'not FST_AMQP_CONNECT_TIMEOUT: it came back before connectTimeout')
  t.equal(err.cause?.code, 'SELF_SIGNED_CERT_IN_CHAIN', 'RabbitMQ sends its chain: Node reads the CA as self-signed and untrusted')
  t.match(err.message, /SELF_SIGNED_CERT_IN_CHAIN.*tls\.ca/)
})

t.test('a client without a certificate, against a broker that requires one, fails boot with FST_AMQP_TLS', { skip }, async (t) => {
  const [, { url }] = await nodes!
  // A few times: the broker's alert comes after the client's side of the handshake is done (TLS 1.3).
  for (let i = 0; i < 5; i++) {
    const err = await bootError(t, { url: url.replace('amqps://', 'amqps://guest:guest@'), tls: { ca: certs.ca.cert }, connectTimeout: 20000 })
    t.equal(err.code, 'FST_AMQP_TLS', `attempt ${i + 1}`)
    if (i === 0) t.comment(`RabbitMQ's refusal as Node reports it: ${err.cause?.code} ${JSON.stringify(err.cause?.message)}`)
  }
})

t.test('a client certificate of a CA the broker does not trust fails boot with FST_AMQP_TLS', { skip }, async (t) => {
  const [{ url }] = await nodes!
  const err = await bootError(t, { url: url.replace('amqps://', 'amqps://guest:guest@'), tls: { ca: certs.ca.cert, cert: certs.otherClient.cert, key: certs.otherClient.key }, connectTimeout: 20000 })
  t.equal(err.code, 'FST_AMQP_TLS')
  t.comment(`RabbitMQ's refusal as Node reports it: ${err.cause?.code} ${JSON.stringify(err.cause?.message)} ${JSON.stringify((err.cause as { reason?: string } | undefined)?.reason)}`)
})

t.test('after boot, a broker certificate that expired is logged as FST_AMQP_TLS at error level while the plugin keeps trying, and it reconnects once the certificate is renewed', { skip }, async (t) => {
  const [{ url, node }] = await nodes!
  const { app: a, lines } = await app(t, { url: url.replace('amqps://', 'amqps://guest:guest@'), tls: { ca: certs.ca.cert }, reconnectDelay: 200, reconnectDelayMax: 500 })
  await a.ready()
  const renew = () => {
    copyFileSync(certs.server.certFile + '.good', certs.server.certFile)
    copyFileSync(certs.server.keyFile + '.good', certs.server.keyFile)
  }
  copyFileSync(certs.server.certFile, certs.server.certFile + '.good')
  copyFileSync(certs.server.keyFile, certs.server.keyFile + '.good')
  t.teardown(renew)
  // The node reads its certificate files again for new connections once its PEM cache is cleared.
  copyFileSync(certs.expired.certFile, certs.server.certFile)
  copyFileSync(certs.expired.keyFile, certs.server.keyFile)
  await node.ctl(['eval', 'ssl:clear_pem_cache().'])
  await node.ctl(['close_all_connections', 'certificate rotated'])
  const logged = () => lines.map((l) => JSON.parse(l) as { level: number, msg: string, err?: { code?: string, message?: string } })
  const error = await waitFor('an error-level line for the expired certificate', () => logged().find((l) => l.level === 50 && l.err?.code === 'FST_AMQP_TLS'))
  t.match(error.err?.message, 'CERT_HAS_EXPIRED')
  t.notMatch(lines.join('\n'), 'guest:guest', 'the password is never logged')
  t.equal(a.amqp.health().status, 'down')
  await t.rejects(a.amqp.publish('nowhere', {}, { timeout: 300 }), { code: 'FST_AMQP_NOT_CONNECTED' }, 'publishes wait, and time out, meanwhile')

  renew()
  await node.ctl(['eval', 'ssl:clear_pem_cache().'])
  await waitFor('the plugin to reconnect with the renewed certificate', () => a.amqp.health().status === 'ok')
  await a.amqp.publish('nowhere', {}, { mandatory: false })
})
