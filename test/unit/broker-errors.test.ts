import { lookup } from 'node:dns'
import net from 'node:net'
import tls from 'node:tls'
import t, { type Test } from 'tap'
import { fatalConnectError, messageTooLarge, mismatchError, missingExchange, tlsSetupError } from '../../lib/core/broker-errors'
import { amqplibTransport } from '../../lib/transport/amqplib'
import type { ConnectOptions } from '../../lib/transport/transport'
import { closedPort } from '../helpers'
import { makeCerts } from '../tls-certs'

/*
 * Every string here is what RabbitMQ 3.10.8 sent, as amqplib 2.3 reports it
 * (captured from a real broker), so a broker or amqplib upgrade that rewords
 * one fails here first.
 */
const err = (message: string, code?: number) => Object.assign(new Error(message), { code })

t.test('missingExchange() names the exchange from a 404, whether a check or a publish closed the channel', async (t) => {
  t.equal(missingExchange(err('Operation failed: ExchangeDeclare; 404 (NOT-FOUND) with message "NOT_FOUND - no exchange \'orders.v2\' in vhost \'/\'"', 404)), 'orders.v2')
  t.equal(missingExchange(err('Channel closed by server: 404 (NOT-FOUND) with message "NOT_FOUND - no exchange \'a b\' in vhost \'shop\'"', 404)), 'a b')
  t.equal(missingExchange(err('Channel closed by server: 404 (NOT-FOUND) with message "NOT_FOUND - no queue \'q\' in vhost \'/\'"', 404)), undefined, 'a missing queue is not a missing exchange')
  t.equal(missingExchange(err('no exchange \'x\' in vhost \'/\'', 406)), undefined, 'only a 404 counts')
  t.equal(missingExchange(undefined), undefined)
  t.equal(missingExchange({ code: 404, get message (): string { throw new Error('hostile getter') } }), undefined, 'never throws')
})

t.test('messageTooLarge() reads the size and the broker\'s limit from its max_message_size close', async (t) => {
  // rabbit_channel:check_msg_size, 3.10: "configured" only when the limit is not the 512 MiB ceiling.
  t.same(messageTooLarge(err('Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - message size 2097152 is larger than configured max size 1048576"', 406)), { size: 2097152, max: 1048576 })
  t.same(messageTooLarge(err('Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - message size 536870913 is larger than max size 536870912"', 406)), { size: 536870913, max: 536870912 })
  t.equal(messageTooLarge(err('Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'durable\' for queue \'q\' in vhost \'/\': received \'false\' but current is \'true\'"', 406)), undefined)
  t.equal(messageTooLarge(err('channel closed')), undefined)
})

t.test('mismatchError() turns each kind of 406 inequivalent arg into FST_AMQP_TOPOLOGY_MISMATCH naming the argument and both values', async (t) => {
  const cases: Array<[string, Record<string, string>]> = [
    ['Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'x-max-length\' for queue \'orders\' in vhost \'/\': received \'20\' but current is \'10\'"',
      { queue: 'orders', argument: 'x-max-length', expected: '20', actual: '10' }],
    ['Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'x-max-length\' for queue \'orders\' in vhost \'/\': received none but current is the value \'10\' of type \'byte\'"',
      { queue: 'orders', argument: 'x-max-length', expected: '(not set)', actual: '10 (byte)' }],
    ['Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'durable\' for queue \'orders\' in vhost \'/\': received \'false\' but current is \'true\'"',
      { queue: 'orders', argument: 'durable', expected: 'false', actual: 'true' }],
    ['Operation failed: ExchangeDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'type\' for exchange \'logs\' in vhost \'/\': received \'fanout\' but current is \'topic\'"',
      { exchange: 'logs', argument: 'type', expected: 'fanout', actual: 'topic' }],
    ['Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'x-queue-type\' for queue \'orders\' in vhost \'/\': received the value \'quorum\' of type \'longstr\' but current is none"',
      { queue: 'orders', argument: 'x-queue-type', expected: 'quorum (longstr)', actual: '(not set)' }]
  ]
  for (const [text, fields] of cases) {
    const e = mismatchError(err(text, 406)) as Error & Record<string, unknown>
    t.equal(e?.code, 'FST_AMQP_TOPOLOGY_MISMATCH', fields.argument)
    t.match(e, fields)
  }
  t.equal(mismatchError(err('Operation failed: QueueDeclare; 405 (RESOURCE-LOCKED) with message "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue \'q\' in vhost \'/\'"', 405)), undefined)
})

t.test('fatalConnectError() tells bad credentials and a refused virtual host from errors worth retrying', async (t) => {
  const refused = fatalConnectError(err('Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."'), 'amqp://guest:***@h')
  t.equal((refused as { code?: string })?.code, 'FST_AMQP_ACCESS_REFUSED')
  const vhost = fatalConnectError(err('Expected ConnectionOpenOk; got <ConnectionClose channel:0>'), 'amqp://h/nope')
  t.equal((vhost as { code?: string })?.code, 'FST_AMQP_VHOST_NOT_ALLOWED')
  t.equal(fatalConnectError(err('connect ECONNREFUSED 127.0.0.1:5672'), 'u'), undefined)
  t.equal(fatalConnectError(err('getaddrinfo ENOTFOUND not-allowed.example'), 'u'), undefined, 'a host name is not read as a refusal')
  t.equal(fatalConnectError(err('Socket closed abruptly during opening handshake'), 'u'), undefined)
})

/*
 * TLS and DNS failures, produced for real: a local node:tls server (or a
 * plain TCP one) and the amqplib transport the plugin uses, whose
 * connectFailed error is what the core classifies. Certificates are made by
 * openssl for the test.
 */
const certs = makeCerts()
t.teardown(() => certs.remove())

type ServerKind = tls.TlsOptions | 'plain tcp' | 'reset'

/** The error of the transport's first attempt against a server of `kind` (which never speaks AMQP). */
async function firstFailure (t: Test, kind: ServerKind, o: Partial<ConnectOptions> = {}, host = '127.0.0.1'): Promise<Error> {
  const sockets = new Set<net.Socket>()
  const server = kind === 'plain tcp' || kind === 'reset'
    ? net.createServer((s) => {
      if (kind === 'reset') return s.resetAndDestroy()
      // What RabbitMQ's plain port answers bytes that are not an AMQP header: its own header, then it closes.
      s.once('data', () => s.end('AMQP\x00\x00\x09\x01'))
    })
    : tls.createServer(kind)
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('error', () => {}) })
  server.on('tlsClientError', () => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    return new Promise((resolve) => server.close(resolve))
  })
  const { port } = server.address() as net.AddressInfo
  return await attempt(t, `amqps://guest:guest@${host}:${port}`, o)
}

async function attempt (t: Test, url: string, o: Partial<ConnectOptions> = {}): Promise<Error> {
  const manager = amqplibTransport([url]).connect({ heartbeat: 0, reconnectDelay: 600000, connectTimeout: 2000, connectionName: 'test', ...o })
  t.teardown(() => manager.close())
  return await new Promise<Error>((resolve, reject) => {
    manager.once('connectFailed', ({ err }: { err: Error }) => resolve(err))
    manager.once('connect', () => reject(new Error('connected')))
  })
}

const server = { cert: certs.server.cert, key: certs.server.key }
const serverWithChain = { cert: certs.serverChain, key: certs.server.key }
const mtls = { ...server, ca: certs.ca.cert, requestCert: true, rejectUnauthorized: true }
const code = (e: unknown) => (e as { code?: string } | undefined)?.code

t.test('fatalConnectError() reads each certificate failure of the broker\'s as FST_AMQP_TLS naming Node\'s code', async (t) => {
  const cases: Array<[string, ServerKind, Partial<ConnectOptions>, string]> = [
    ['a self-signed CA not trusted (the broker sends its chain, as RabbitMQ does)', serverWithChain, {}, 'SELF_SIGNED_CERT_IN_CHAIN'],
    ['a CA not trusted (the broker sends its certificate alone)', server, {}, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['tls.ca of another CA', serverWithChain, { tls: { ca: certs.otherCa.cert } }, 'SELF_SIGNED_CERT_IN_CHAIN'],
    ['an expired certificate', { cert: certs.expired.cert, key: certs.expired.key }, { tls: { ca: certs.ca.cert } }, 'CERT_HAS_EXPIRED'],
    ['a certificate for another host', server, { tls: { ca: certs.ca.cert, servername: 'rabbit.example' } }, 'ERR_TLS_CERT_ALTNAME_INVALID'],
    ['no client certificate for a broker that requires one (TLS 1.3)', mtls, { tls: { ca: certs.ca.cert } }, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'],
    ['no client certificate for a broker that requires one (TLS 1.2)', { ...mtls, maxVersion: 'TLSv1.2' }, { tls: { ca: certs.ca.cert } }, 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE'],
    ['a server that does not speak TLS (the plain AMQP port)', 'plain tcp', {}, 'ERR_SSL_WRONG_VERSION_NUMBER']
  ]
  for (const [what, kind, o, expected] of cases) {
    const cause = await firstFailure(t, kind, o)
    t.equal(code(cause), expected, `${what}: Node's code`)
    const e = fatalConnectError(cause, 'amqps://guest:***@127.0.0.1:5671')
    t.equal(code(e), 'FST_AMQP_TLS', what)
    t.equal((e as { cause?: unknown })?.cause, cause, `${what}: the TLS error is the cause`)
    t.match(e?.message, expected, `${what}: the message names ${expected}`)
    t.match(e?.message, 'amqps://guest:***@127.0.0.1:5671', `${what}: and the URL`)
    t.notMatch(e?.message, /\.c:\d+/, `${what}: without OpenSSL's source file and line`)
  }
})

t.test('RabbitMQ\'s alerts for a client certificate it does not trust, or that is missing, are FST_AMQP_TLS', async (t) => {
  // What RabbitMQ 3.10.8 (verify_peer) answers over TLS 1.3, as Node 20 reports it (captured by test-faults/tls.test.ts).
  const alert = (message: string, reason: string, code: string) => Object.assign(new Error(message), { library: 'SSL routines', reason, code })
  const unknownCa = fatalConnectError(alert('807C663BD47F0000:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 48\n',
    'tlsv1 alert unknown ca', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'), 'amqps://h')
  t.equal(code(unknownCa), 'FST_AMQP_TLS')
  t.match(unknownCa?.message, 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA (tlsv1 alert unknown ca): the broker refused')
  // fail_if_no_peer_cert = true, and no client certificate.
  const required = fatalConnectError(alert('807C663BD47F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 116\n',
    'tlsv13 alert certificate required', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), 'amqps://h')
  t.equal(code(required), 'FST_AMQP_TLS')
  t.match(required?.message, 'client certificate')
})

t.test('tlsSetupError() names a wrong passphrase, a key not of its certificate and an unreadable key', async (t) => {
  const setupError = (o: ConnectOptions['tls']) => {
    try {
      amqplibTransport(['amqps://h']).connect({ heartbeat: 0, reconnectDelay: 1000, connectTimeout: 1000, connectionName: 'test', tls: o })
    } catch (err) {
      return tlsSetupError(err, 'amqps://h')
    }
    throw new Error('the transport took the key')
  }
  const cases: Array<[string, ConnectOptions['tls'], RegExp]> = [
    // OpenSSL now and then decrypts with a wrong passphrase into bytes it then cannot decode (UNSUPPORTED): both name the passphrase.
    ['a wrong passphrase', { cert: certs.client.cert, key: certs.clientKeyEncrypted, passphrase: 'wrong' }, /ERR_OSSL_(BAD_DECRYPT|UNSUPPORTED).*tls.passphrase/],
    ['no passphrase for an encrypted key', { cert: certs.client.cert, key: certs.clientKeyEncrypted }, /ERR_OSSL_BAD_DECRYPT.*tls.passphrase/],
    ['a wrong passphrase for a pfx (no code from Node)', { pfx: certs.clientPfx, passphrase: 'wrong' }, /mac verify failure.*tls.passphrase/],
    ['a key of another certificate', { cert: certs.client.cert, key: certs.otherClient.key }, /ERR_OSSL_X509_KEY_VALUES_MISMATCH.*not the key of tls.cert/],
    ['a key that is not one', { cert: certs.client.cert, key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }, /could not be read/]
  ]
  for (const [what, o, message] of cases) {
    const e = setupError(o)
    t.equal(code(e), 'FST_AMQP_TLS', what)
    t.match(e.message, message, what)
    t.notMatch(e.message, certs.passphrase, `${what}: never the passphrase`)
  }
})

t.test('fatalConnectError() reads a host that DNS says does not exist as FST_AMQP_HOST_NOT_FOUND, and a DNS server that did not answer as worth retrying', async (t) => {
  const dns = await lookupOutcome('no-such-host.invalid')
  t.test('ENOTFOUND', { skip: dns !== 'ENOTFOUND' && `no DNS server answers here (${dns})` }, async (t) => {
    const cause = await attempt(t, 'amqps://guest:guest@no-such-host.invalid:5671')
    t.equal(code(cause), 'ENOTFOUND')
    const e = fatalConnectError(cause, 'amqps://guest:***@no-such-host.invalid:5671')
    t.equal(code(e), 'FST_AMQP_HOST_NOT_FOUND')
    t.match(e?.message, 'no-such-host.invalid')
  })
  // The shape Node gives getaddrinfo's EAI_AGAIN (not produced here: it needs a DNS server that does not answer).
  t.equal(fatalConnectError(Object.assign(new Error('getaddrinfo EAI_AGAIN rabbit'), { errno: -3001, code: 'EAI_AGAIN', syscall: 'getaddrinfo', hostname: 'rabbit' }), 'u'), undefined)
})

t.test('fatalConnectError() leaves refused, reset and timed-out attempts to be retried', async (t) => {
  const port = await closedPort()
  const refused = await attempt(t, `amqps://127.0.0.1:${port}`)
  t.equal(code(refused), 'ECONNREFUSED')
  t.equal(fatalConnectError(refused, 'u'), undefined, 'ECONNREFUSED')
  const reset = await firstFailure(t, 'reset')
  t.equal(code(reset), 'ECONNRESET', 'a reset during the TLS handshake')
  t.equal(fatalConnectError(reset, 'u'), undefined, 'a reset during the TLS handshake is what a broker starting up, or a load balancer without a healthy node, gives')
  const silent = await firstFailure(t, { ...server }, { tls: { ca: certs.ca.cert }, connectTimeout: 300 })
  t.equal(silent.message, 'connect ETIMEDOUT', 'a TLS server that never speaks AMQP')
  t.equal(fatalConnectError(silent, 'u'), undefined)
})

t.test('fatalConnectError() reads a broker that does not offer EXTERNAL as FST_AMQP_ACCESS_REFUSED', async (t) => {
  // amqplib's own check of the broker's mechanisms, before it logs in.
  const e = fatalConnectError(err('SASL mechanism EXTERNAL is not provided by the server'), 'amqps://h')
  t.equal(code(e), 'FST_AMQP_ACCESS_REFUSED')
  t.match(e?.message, 'rabbitmq_auth_mechanism_ssl')
})

async function lookupOutcome (host: string): Promise<string> {
  return await new Promise((resolve) => lookup(host, (e) => resolve(e ? String((e as { code?: string }).code) : 'resolved')))
}
