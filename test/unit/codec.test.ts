import t from 'tap'
import { decode, encode } from '../../lib/core/codec'

t.test('encode() sends a Buffer as bytes, a string as UTF-8 text and anything else as JSON', async (t) => {
  t.same(encode(Buffer.from([1, 2])), { content: Buffer.from([1, 2]), contentType: 'application/octet-stream' })
  t.same(encode('héllo'), { content: Buffer.from('héllo'), contentType: 'text/plain; charset=utf-8' })
  t.same(encode({ a: 1 }), { content: Buffer.from('{"a":1}'), contentType: 'application/json' })
  t.same(encode(null).content.toString(), 'null')
  t.same(encode(0).content.toString(), '0')
})

t.test('encode() refuses what JSON cannot carry with FST_AMQP_ENCODE, and a body over the limit with FST_AMQP_MESSAGE_TOO_LARGE', async (t) => {
  const circular: Record<string, unknown> = {}
  circular.self = circular
  t.throws(() => encode(circular), { code: 'FST_AMQP_ENCODE' })
  t.throws(() => encode(10n), { code: 'FST_AMQP_ENCODE' })
  t.throws(() => encode(undefined), { code: 'FST_AMQP_ENCODE' })
  t.throws(() => encode(() => 1), { code: 'FST_AMQP_ENCODE' })
  t.throws(() => encode('12345', 4), { code: 'FST_AMQP_MESSAGE_TOO_LARGE' })
  t.doesNotThrow(() => encode('1234', 4))
})

t.test('decode() parses JSON types (+json included), turns text/* into a string and leaves anything else as bytes', async (t) => {
  t.same(decode(Buffer.from('{"a":1}'), 'application/json'), { a: 1 })
  t.same(decode(Buffer.from('{"a":1}'), 'Application/JSON; charset=utf-8'), { a: 1 })
  t.same(decode(Buffer.from('[1]'), 'application/vnd.shop.order+json'), [1])
  t.equal(decode(Buffer.from(''), 'application/json'), undefined, 'an empty JSON body is undefined')
  t.equal(decode(Buffer.from('hi'), 'text/csv'), 'hi')
  t.same(decode(Buffer.from('hi'), undefined), Buffer.from('hi'))
  t.same(decode(Buffer.from('{}'), 'application/octet-stream'), Buffer.from('{}'))
})

t.test('decode() refuses a body that does not parse, or a content encoding it cannot undo, with FST_AMQP_DECODE', async (t) => {
  t.throws(() => decode(Buffer.from('{nope'), 'application/json'), { code: 'FST_AMQP_DECODE' })
  t.throws(() => decode(Buffer.from('x'), 'text/plain', 'gzip'), { code: 'FST_AMQP_DECODE' })
  t.equal(decode(Buffer.from('x'), 'text/plain', 'utf-8'), 'x')
})
