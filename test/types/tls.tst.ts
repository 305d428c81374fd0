import { describe, expect, test } from 'tstyche'
import Fastify from 'fastify'
import warren, { type TlsOptions } from '../../lib/index'

const app = Fastify()
const url = 'amqps://broker.example'
const pem = '-----BEGIN CERTIFICATE-----\n...'

describe('tls', () => {
  test('takes PEM strings or Buffers (a list for ca), a passphrase, a pfx, servername and rejectUnauthorized', () => {
    expect(app.register).type.toBeCallableWith(warren, { url, tls: { ca: pem } })
    expect(app.register).type.toBeCallableWith(warren, { url, tls: { ca: [pem, Buffer.from(pem)], cert: pem, key: Buffer.from(pem), passphrase: 'p', servername: 'rabbit', rejectUnauthorized: true } })
    expect(app.register).type.toBeCallableWith(warren, { url, tls: { pfx: Buffer.from([1]), passphrase: 'p' } })
    expect<TlsOptions>().type.toBeAssignableFrom({ ca: pem })
  })
  test('refuses other keys and other types', () => {
    expect(app.register).type.not.toBeCallableWith(warren, { url, tls: { ca: 1 } })
    expect(app.register).type.not.toBeCallableWith(warren, { url, tls: { cert: [pem] } })
    expect(app.register).type.not.toBeCallableWith(warren, { url, tls: { rejectUnauthorized: 'false' } })
    expect(app.register).type.not.toBeCallableWith(warren, { url, tls: { checkServerIdentity: () => undefined } })
  })
})

describe('auth', () => {
  test('is plain or external', () => {
    expect(app.register).type.toBeCallableWith(warren, { url, auth: 'plain' })
    expect(app.register).type.toBeCallableWith(warren, { url, auth: 'external', tls: { cert: pem, key: pem } })
    expect(app.register).type.not.toBeCallableWith(warren, { url, auth: 'amqplain' })
  })
})
