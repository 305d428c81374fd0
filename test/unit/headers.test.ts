import t from 'tap'
import { headerSizes, measureTable } from '../../lib/core/headers'
import { amqplibTableSize } from '../helpers'

/*
 * measureTable() must agree with amqplib byte for byte on every table amqplib
 * encodes, and refuse, with the header's path, every table amqplib throws on.
 */

const GOOD: Array<Record<string, unknown>> = [
  {},
  { s: 'text', empty: '', utf: 'héllo wörld ✓' },
  { small: 1, negative: -1, byte: 127, short: 128, shortNeg: -129, int: 40000, intNeg: -40000, long: 2 ** 40, longNeg: -(2 ** 40), huge: 2 ** 60 },
  { f: 1.5, tiny: 1e-10, inf: Infinity, zero: 0, negZero: -0 },
  { yes: true, no: false, nothing: null, skipped: undefined },
  { bytes: Buffer.from([1, 2, 3]), noBytes: Buffer.alloc(0) },
  { list: [1, 'two', [3, [4]], { five: 5 }, null, true] },
  { table: { a: { b: { c: 'deep' } } } },
  { u8: { '!': 'uint8', value: 255 }, i8: { '!': 'int8', value: -128 }, u16: { '!': 'uint16', value: 65535 }, i16: { '!': 'int16', value: -32768 } },
  { u32: { '!': 'uint32', value: 4294967295 }, i32: { '!': 'int32', value: -2147483648 }, i64: { '!': 'int64', value: 2 ** 52 } },
  { stamp: { '!': 'timestamp', value: 1700000000 }, float: { '!': 'float', value: 1.5 }, double: { '!': 'double', value: 2.5 } },
  { dec: { '!': 'decimal', value: { places: 2, digits: 1234 } }, typedString: { '!': 'string', value: 'x' }, typedBool: { '!': 'boolean', value: true } },
  { ['k'.repeat(255)]: 1, ['é'.repeat(127)]: 2 },
  { big: 'x'.repeat(60000) }
]

t.test('measureTable() gives the size amqplib encodes, for every kind of value', async (t) => {
  for (const table of GOOD) {
    t.equal(measureTable(table), amqplibTableSize(table), Object.keys(table).join(',') || '(empty)')
  }
})

const BAD: Array<[string, Record<string, unknown>, string]> = [
  ['a Symbol', { s: Symbol('x') }, 's'],
  ['a function', { f: () => 1 }, 'f'],
  ['a BigInt', { b: 1n }, 'b'],
  ['NaN', { n: NaN }, 'n'],
  ['-Infinity', { n: -Infinity }, 'n'],
  ['a 256-byte key', { ['k'.repeat(256)]: 1 }, 'k'.repeat(256)],
  ['undefined in a list', { list: [1, undefined] }, 'list[1]'],
  ['a nested Symbol', { a: { b: [{ c: Symbol('x') }] } }, 'a.b[0].c'],
  ['an unknown typed value', { t: { '!': 'uuid', value: 'x' } }, 't'],
  ['a uint8 out of range', { t: { '!': 'uint8', value: 256 } }, 't'],
  ['a negative timestamp', { t: { '!': 'timestamp', value: -1 } }, 't'],
  ['a bad decimal', { t: { '!': 'decimal', value: { places: 300, digits: 1 } } }, 't']
]

t.test('measureTable() refuses what amqplib cannot encode with FST_AMQP_INVALID_HEADER naming the header\'s path', async (t) => {
  for (const [what, table, path] of BAD) {
    t.throws(() => amqplibTableSize(table), `${what}: amqplib throws too`)
    t.throws(() => measureTable(table), { code: 'FST_AMQP_INVALID_HEADER', header: path }, what)
  }
})

t.test('values amqplib would silently change are refused too: a Date (sent as an empty table), a fraction in an integer type, a circular header', async (t) => {
  t.throws(() => measureTable({ at: new Date() }), { code: 'FST_AMQP_INVALID_HEADER', header: 'at' })
  t.throws(() => measureTable({ n: { '!': 'int16', value: 1.5 } }), { code: 'FST_AMQP_INVALID_HEADER', header: 'n' })
  const loop: Record<string, unknown> = {}
  loop.self = loop
  t.throws(() => measureTable({ loop }), { code: 'FST_AMQP_INVALID_HEADER' })
})

t.test('headerSizes() lists each header\'s encoded size, largest first', async (t) => {
  t.same(headerSizes({ a: 'x', b: 'x'.repeat(100), c: 1 }), [['b', 107], ['a', 8], ['c', 4]])
})
