import t from 'tap'
import { normalizeOptions } from '../../lib/core/options'

/*
 * The `tls` and `auth` options: checked before any connection is made, each
 * bad value naming its field, and never a byte of a key in the message.
 */

const url = 'amqps://guest:guest@broker.example:5671'
const pem = (kind: string) => `-----BEGIN ${kind}-----\nMIIB\n-----END ${kind}-----\n`
const ca = pem('CERTIFICATE')
const cert = pem('CERTIFICATE')
const key = pem('PRIVATE KEY')
const secretKey = pem('ENCRYPTED PRIVATE KEY').replace('MIIB', 'TOPSECRETKEYMATERIAL')

t.test('tls and auth default to none and "plain"', async (t) => {
  const o = normalizeOptions({ url })
  t.equal(o.tls, undefined)
  t.equal(o.auth, 'plain')
})

t.test('tls takes ca (one or a list, strings or Buffers), a client certificate, a passphrase, a pfx, servername and rejectUnauthorized', async (t) => {
  const o = normalizeOptions({
    url,
    tls: { ca: [ca, Buffer.from(ca)], cert, key: Buffer.from(key), passphrase: 'p', servername: 'rabbit.internal', rejectUnauthorized: true }
  })
  t.same(o.tls, { ca: [ca, Buffer.from(ca)], cert, key: Buffer.from(key), passphrase: 'p', servername: 'rabbit.internal', rejectUnauthorized: true })
  t.ok(Object.isFrozen(o.tls))
  t.same(normalizeOptions({ url, tls: { ca } }).tls, { ca })
  t.same(normalizeOptions({ url, tls: { pfx: Buffer.from([0x30, 0x82]), passphrase: 'p' } }).tls, { pfx: Buffer.from([0x30, 0x82]), passphrase: 'p' })
  t.same(normalizeOptions({ url, tls: {} }).tls, {}, 'an empty tls is Node\'s defaults')
})

t.test('tls keeps only the keys given: an undefined rejectUnauthorized would turn checking off in tls.connect()', async (t) => {
  const o = normalizeOptions({ url, tls: { ca, rejectUnauthorized: undefined, servername: undefined } })
  t.same(Object.keys(o.tls!), ['ca'])
})

t.test('tls with every URL amqps:// is accepted, and refused if any URL is amqp://', async (t) => {
  t.ok(normalizeOptions({ url: [url, 'amqps://b.example'], tls: { ca } }).tls)
  t.throws(() => normalizeOptions({ url: 'amqp://guest:guest@127.0.0.1:5672', tls: { ca } }), { code: 'FST_AMQP_INVALID_OPTION', message: /"tls".*amqps:\/\//s })
  t.throws(() => normalizeOptions({ url: [url, 'amqp://b.example'], tls: { ca } }), { code: 'FST_AMQP_INVALID_OPTION', message: /"tls".*url\[1\]/s })
  t.throws(() => normalizeOptions({ url: 'memory://tls', tls: {} }), { code: 'FST_AMQP_INVALID_OPTION', message: /"tls"/ })
})

t.test('auth "external" takes a client certificate (cert and key, or pfx) and a URL without user or password', async (t) => {
  t.equal(normalizeOptions({ url: 'amqps://broker.example', auth: 'external', tls: { cert, key } }).auth, 'external')
  t.equal(normalizeOptions({ url: 'amqps://broker.example', auth: 'external', tls: { pfx: Buffer.from([1]) } }).auth, 'external')
  t.equal(normalizeOptions({ url, auth: 'plain' }).auth, 'plain')
})

const bad: Array<[string, Record<string, unknown>, string]> = [
  ['tls that is not an object', { url, tls: true }, 'tls'],
  ['tls that is a Buffer', { url, tls: Buffer.from(ca) }, 'tls'],
  ['an unknown tls key', { url, tls: { ca, checkServerIdentity: () => undefined } }, 'tls.checkServerIdentity'],
  ['a misspelt tls key', { url, tls: { cacert: ca } }, 'tls.cacert'],
  ['a ca that is a file path', { url, tls: { ca: '/etc/rabbitmq/ca.pem' } }, 'tls.ca'],
  ['a ca that is a number', { url, tls: { ca: 1 } }, 'tls.ca'],
  ['an empty list of ca', { url, tls: { ca: [] } }, 'tls.ca'],
  ['a ca list with a path in it', { url, tls: { ca: [ca, 'ca2.pem'] } }, 'tls.ca[1]'],
  ['a cert without a key', { url, tls: { cert } }, 'tls.cert'],
  ['a key without a cert', { url, tls: { key } }, 'tls.key'],
  ['a key that is a file path', { url, tls: { cert, key: './client.key' } }, 'tls.key'],
  ['a cert that is DER bytes', { url, tls: { cert: Buffer.from([0x30, 0x82, 1, 2]), key } }, 'tls.cert'],
  ['an empty pfx', { url, tls: { pfx: Buffer.alloc(0) } }, 'tls.pfx'],
  ['a pfx that is an object', { url, tls: { pfx: {} } }, 'tls.pfx'],
  ['a passphrase that is not a string', { url, tls: { cert, key, passphrase: 1234 } }, 'tls.passphrase'],
  ['a passphrase with nothing to decrypt', { url, tls: { ca, passphrase: 'p' } }, 'tls.passphrase'],
  ['a servername that is an IP address', { url, tls: { servername: '10.0.0.1' } }, 'tls.servername'],
  ['a servername that is a URL', { url, tls: { servername: 'amqps://rabbit' } }, 'tls.servername'],
  ['an empty servername', { url, tls: { servername: '' } }, 'tls.servername'],
  ['rejectUnauthorized as a string', { url, tls: { rejectUnauthorized: 'false' } }, 'tls.rejectUnauthorized'],
  ['an unknown auth', { url, auth: 'amqplain' }, 'auth'],
  ['auth "external" without tls', { url: 'amqps://broker.example', auth: 'external' }, 'auth'],
  ['auth "external" with a CA only', { url: 'amqps://broker.example', auth: 'external', tls: { ca } }, 'auth'],
  ['auth "external" with a password in the URL', { url, auth: 'external', tls: { cert, key } }, 'url'],
  ['auth "external" with a user in the second URL', { url: ['amqps://a.example', 'amqps://app@b.example'], auth: 'external', tls: { cert, key } }, 'url[1]']
]

for (const [what, options, field] of bad) {
  t.test(`normalizeOptions rejects ${what} with FST_AMQP_INVALID_OPTION naming "${field}"`, async (t) => {
    t.throws(() => normalizeOptions(options), { code: 'FST_AMQP_INVALID_OPTION', message: new RegExp(`"${field.replace(/[[\]]/g, '\\$&')}"`) })
  })
}

t.test('a bad tls value is described without a byte of it', async (t) => {
  const values = [secretKey.replace(/-----[A-Z ]+-----/g, ''), Buffer.from('TOPSECRETKEYMATERIAL')]
  for (const value of values) {
    for (const tls of [{ ca: value }, { cert: value, key }, { cert, key: value }, { pfx: {}, passphrase: 'TOPSECRETKEYMATERIAL' }]) {
      try {
        normalizeOptions({ url, tls })
        t.fail('should throw')
      } catch (err) {
        t.equal((err as { code?: string }).code, 'FST_AMQP_INVALID_OPTION')
        t.notMatch((err as Error).message, /TOPSECRET/)
      }
    }
  }
  t.throws(() => normalizeOptions({ url, tls: { cert, key: secretKey, passphrase: 1 } }), { message: /^(?!.*TOPSECRET)/s })
  t.throws(() => normalizeOptions({ url, tls: 'TOPSECRETKEYMATERIAL' }), { code: 'FST_AMQP_INVALID_OPTION', message: /^(?!.*TOPSECRET)/s }, 'a key given as tls itself')
})
