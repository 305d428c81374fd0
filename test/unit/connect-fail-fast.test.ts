import { lookup } from 'node:dns'
import net from 'node:net'
import tls from 'node:tls'
import { inspect } from 'node:util'
import t, { type Test } from 'tap'
import warren from '../../lib/index'
import { appWithLog, closedPort } from '../helpers'
import { makeCerts } from '../tls-certs'

/*
 * Boot against brokers that cannot be reached for good: no broker is
 * needed, only local TLS servers (which never get as far as AMQP) and a host
 * name DNS does not know. Every test gives a connectTimeout of 9 s (below
 * Fastify's pluginTimeout), so a failure that waited for it would come back
 * as FST_AMQP_CONNECT_TIMEOUT, not as the code asserted.
 */

const certs = makeCerts()
t.teardown(() => certs.remove())

const PASSWORD = 's3cr3t-pa55w0rd'

/** A TLS server with the CA-signed certificate for 127.0.0.1, sending its chain (as RabbitMQ does). */
async function tlsServer (t: Test, o: tls.TlsOptions = { cert: certs.serverChain, key: certs.server.key }): Promise<number> {
  const sockets = new Set<net.Socket>()
  const server = tls.createServer(o)
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('error', () => {}) })
  server.on('tlsClientError', () => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    return new Promise((resolve) => server.close(resolve))
  })
  return (server.address() as net.AddressInfo).port
}

async function boot (t: Test, options: Record<string, unknown>): Promise<{ err: Error & { code?: string, statusCode?: number, cause?: unknown }, lines: string[] }> {
  const { app, lines } = appWithLog()
  t.teardown(() => app.close())
  app.register(warren, { connectTimeout: 9000, ...options } as any)
  const err = await app.ready().then(() => { throw new Error('booted') }, (e: Error & { code?: string }) => e)
  return { err, lines }
}

function dnsAnswers (host: string): Promise<string> {
  return new Promise((resolve) => lookup(host, (e) => resolve(e ? String((e as { code?: string }).code) : 'resolved')))
}

t.test('a broker certificate of a CA not in tls.ca fails boot at once with FST_AMQP_TLS, not at connectTimeout', async (t) => {
  const port = await tlsServer(t)
  const { err } = await boot(t, { url: `amqps://guest:guest@127.0.0.1:${port}`, tls: { ca: certs.otherCa.cert } })
  t.equal(err.code, 'FST_AMQP_TLS')
  t.equal((err.cause as { code?: string }).code, 'SELF_SIGNED_CERT_IN_CHAIN')
  t.equal(err.statusCode, 503)
})

t.test('without tls.ca, a broker certificate of a private CA fails boot at once with FST_AMQP_TLS', async (t) => {
  const port = await tlsServer(t)
  const { err } = await boot(t, { url: `amqps://guest:guest@127.0.0.1:${port}` })
  t.equal(err.code, 'FST_AMQP_TLS')
  t.match(err.message, /SELF_SIGNED_CERT_IN_CHAIN.*tls\.ca/)
})

t.test('a wrong tls.passphrase fails boot with FST_AMQP_TLS before any attempt', async (t) => {
  const port = await tlsServer(t)
  const { err, lines } = await boot(t, { url: `amqps://guest:guest@127.0.0.1:${port}`, tls: { ca: certs.ca.cert, cert: certs.client.cert, key: certs.clientKeyEncrypted, passphrase: 'not the passphrase' } })
  t.equal(err.code, 'FST_AMQP_TLS')
  t.match(err.message, 'tls.passphrase')
  t.notOk(lines.some((l) => l.includes('attempt failed')), 'no connection was tried')
})

t.test('a host DNS does not know fails boot at once with FST_AMQP_HOST_NOT_FOUND', async (t) => {
  const dns = await dnsAnswers('no-such-host.invalid')
  t.test('ENOTFOUND', { skip: dns !== 'ENOTFOUND' && `no DNS server answers here (${dns})` }, async (t) => {
    const { err } = await boot(t, { url: `amqp://guest:${PASSWORD}@no-such-host.invalid:5672` })
    t.equal(err.code, 'FST_AMQP_HOST_NOT_FOUND')
    t.equal((err.cause as { code?: string }).code, 'ENOTFOUND')
    t.match(err.message, 'no-such-host.invalid')
    t.notMatch(err.message, PASSWORD)
  })
})

t.test('a permanent failure on one URL tries the next at once, and boot waits for connectTimeout while another URL may answer', async (t) => {
  const port = await tlsServer(t)
  const refused = await closedPort()
  const { err, lines } = await boot(t, {
    url: [`amqps://guest:guest@127.0.0.1:${port}`, `amqps://guest:guest@127.0.0.1:${refused}`],
    tls: { ca: certs.otherCa.cert },
    connectTimeout: 1500
  })
  t.equal(err.code, 'FST_AMQP_CONNECT_TIMEOUT', 'a refused connection may be a broker starting up')
  const logged = lines.map((l) => JSON.parse(l) as { msg: string, retryIn?: number, err?: { code?: string }, connection?: string })
  const forGood = logged.find((l) => l.err?.code === 'FST_AMQP_TLS')
  t.match(forGood, { msg: /next one/, retryIn: 0 }, 'the failed-for-good URL is logged with its coded error, and the next tried at once')
  t.ok(logged.some((l) => l.err?.code === 'ECONNREFUSED' && l.retryIn! > 0), 'the other is retried with the backoff')
})

t.test('boot fails at once when every URL of the list has failed for good', async (t) => {
  const wrongCa = await tlsServer(t)
  const expired = await tlsServer(t, { cert: certs.expired.cert + certs.ca.cert, key: certs.expired.key })
  const { err } = await boot(t, { url: [`amqps://guest:guest@127.0.0.1:${wrongCa}`, `amqps://guest:guest@localhost:${expired}`, `amqps://guest:guest@127.0.0.1:${wrongCa}`], tls: { ca: certs.otherCa.cert } })
  t.equal(err.code, 'FST_AMQP_TLS')
})

t.test('a failed TLS boot logs neither the password of the URL nor the key, its passphrase or the pfx', async (t) => {
  const port = await tlsServer(t)
  const passphrase = certs.passphrase
  const secrets = [PASSWORD, passphrase, 'PRIVATE KEY', certs.client.key.split('\n')[1], certs.clientPfx.toString('base64').slice(0, 24)]
  const cases: Array<[string, Record<string, unknown>]> = [
    ['a broker certificate not trusted', { ca: certs.otherCa.cert, cert: certs.client.cert, key: certs.clientKeyEncrypted, passphrase }],
    ['a wrong passphrase', { ca: certs.ca.cert, cert: certs.client.cert, key: certs.clientKeyEncrypted, passphrase: passphrase + '!' }],
    // The pfx holds the CA, which Node then trusts: the host name is what fails here.
    ['a pfx and a broker certificate for another host', { pfx: certs.clientPfx, passphrase, servername: 'rabbit.example' }]
  ]
  for (const [what, tlsOptions] of cases) {
    const { err, lines } = await boot(t, { url: [`amqps://guest:${PASSWORD}@127.0.0.1:${port}`, `amqps://app:${PASSWORD}@localhost:${port}`], tls: tlsOptions })
    t.equal(err.code, 'FST_AMQP_TLS', what)
    t.ok(lines.length > 0, `${what}: something was logged`)
    const seen = [...lines, err.message, String(err.stack), inspect(err, { depth: 4 })].join('\n')
    for (const secret of secrets) t.notOk(seen.includes(secret), `${what}: ${secret === PASSWORD ? 'the password' : secret === passphrase ? 'the passphrase' : 'no key material'} nowhere`)
    t.match(seen, 'guest:***@127.0.0.1', `${what}: the URL, redacted`)
  }
})
