import { FST_AMQP_INVALID_HEADER } from './errors'

/*
 * How many bytes a header table takes on the wire, worked out the way
 * amqplib encodes it, and whether amqplib can encode it at all. A table
 * amqplib cannot encode makes it throw while writing; one larger than its
 * 64 KiB encoding buffer does too. Both are caught here, before a message
 * enters any buffer, and named.
 */

/** @internal The largest header table amqplib encodes (its encoding buffer), length prefix included. */
export const MAX_TABLE_BYTES = 65536

/** Nested tables and arrays deeper than this are refused (a circular header would never end). */
const MAX_DEPTH = 64

type Range = readonly [number, number]

/** Typed values (`{ '!': type, value }`) amqplib writes as fixed-size integers: their range and size. */
const INTEGERS: Record<string, { range: Range, size: number }> = {
  byte: { range: [-128, 127], size: 1 },
  int8: { range: [-128, 127], size: 1 },
  unsignedbyte: { range: [0, 255], size: 1 },
  uint8: { range: [0, 255], size: 1 },
  short: { range: [-0x8000, 0x7fff], size: 2 },
  int16: { range: [-0x8000, 0x7fff], size: 2 },
  unsignedshort: { range: [0, 0xffff], size: 2 },
  uint16: { range: [0, 0xffff], size: 2 },
  int: { range: [-0x80000000, 0x7fffffff], size: 4 },
  int32: { range: [-0x80000000, 0x7fffffff], size: 4 },
  unsignedint: { range: [0, 0xffffffff], size: 4 },
  uint32: { range: [0, 0xffffffff], size: 4 },
  long: { range: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], size: 8 },
  int64: { range: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], size: 8 },
  timestamp: { range: [0, Number.MAX_SAFE_INTEGER], size: 8 }
}

function invalid (path: string, reason: string): Error {
  return Object.assign(new FST_AMQP_INVALID_HEADER(path, reason), { header: path })
}

function isInRange (n: unknown, [min, max]: Range): boolean {
  return typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max
}

/** The bytes of one value as amqplib writes it in a table or array: its type tag included. */
function measureValue (value: unknown, path: string, depth: number): number {
  if (value !== null && typeof value === 'object' && Object.hasOwn(value, '!')) {
    return measureTyped((value as { '!': unknown })['!'], (value as { value?: unknown }).value, path, depth)
  }
  switch (typeof value) {
    case 'string':
      return 1 + 4 + Buffer.byteLength(value)
    case 'boolean':
      return 2
    case 'number':
      if (Number.isNaN(value)) throw invalid(path, 'NaN has no AMQP encoding')
      // amqplib writes whole numbers below 2^50 as the smallest signed integer
      // that holds them, and anything else as a double. -Infinity would be a
      // 64-bit integer, which it cannot write.
      if (value === -Infinity) throw invalid(path, '-Infinity has no AMQP encoding')
      if (value >= 0x8000000000000000 || (Math.abs(value) < 0x4000000000000 && Math.floor(value) !== value)) return 1 + 8
      if (value >= -128 && value < 128) return 1 + 1
      if (value >= -0x8000 && value < 0x8000) return 1 + 2
      if (value >= -0x80000000 && value < 0x80000000) return 1 + 4
      return 1 + 8
    case 'object':
      if (value === null) return 1
      if (Buffer.isBuffer(value)) return 1 + 4 + value.length
      if (Array.isArray(value)) return 1 + measureArray(value, path, depth + 1)
      if (value instanceof Date) throw invalid(path, 'a Date would arrive as an empty table: send date.toISOString(), or { \'!\': \'timestamp\', value: seconds }')
      return 1 + measureFields(value as Record<string, unknown>, path, depth + 1)
    case 'undefined':
      throw invalid(path, 'undefined cannot be sent in a list (leave the entry out, or use null)')
    default:
      throw invalid(path, `a ${typeof value} cannot be sent in an AMQP header`)
  }
}

function measureTyped (type: unknown, value: unknown, path: string, depth: number): number {
  if (typeof type !== 'string') throw invalid(path, 'the \'!\' of a typed value must name a type')
  const integer = INTEGERS[type]
  if (integer) {
    if (!isInRange(value, integer.range)) throw invalid(path, `a ${type} must be a whole number from ${integer.range[0]} to ${integer.range[1]}`)
    return 1 + integer.size
  }
  switch (type) {
    case 'double':
    case 'float64':
    case 'float':
      if (typeof value !== 'number') throw invalid(path, `a ${type} must be a number`)
      return 1 + (type === 'float' ? 4 : 8)
    case 'decimal': {
      const d = value as { places?: unknown, digits?: unknown } | null
      if (d === null || typeof d !== 'object' || !isInRange(d.places, [0, 255]) || !isInRange(d.digits, [0, 0xffffffff])) {
        throw invalid(path, 'a decimal must be { places: 0–255, digits: 0–4294967295 }')
      }
      return 1 + 5
    }
    case 'string':
    case 'boolean':
    case 'object': {
      const actual = value === null ? 'null' : typeof value
      if (actual !== type) throw invalid(path, `the value of a typed ${type} is not one`)
      return measureValue(value, path, depth)
    }
    default:
      throw invalid(path, `"${type}" is not a type AMQP headers can carry`)
  }
}

function measureArray (values: unknown[], path: string, depth: number): number {
  if (depth > MAX_DEPTH) throw invalid(path, `nested more than ${MAX_DEPTH} deep (a circular value?)`)
  let size = 4
  for (let i = 0; i < values.length; i++) {
    reading = `${path}[${i}]`
    size += measureValue(values[i], reading, depth)
  }
  return size
}

/**
 * @internal
 * The bytes `table` takes encoded as amqplib writes it (with its 4-byte
 * length), or FST_AMQP_INVALID_HEADER naming the first header it cannot
 * carry (`err.header`: its path, such as `meta.tags[2]`), also when reading a
 * header throws (a getter, a Proxy). Like amqplib, a key whose value is
 * undefined is left out.
 */
export function measureTable (table: Record<string, unknown>): number {
  reading = ''
  try {
    return measureFields(table, '', 0)
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code === 'FST_AMQP_INVALID_HEADER') throw err
    let why: string
    try {
      why = String((err as { message?: unknown } | null)?.message ?? err)
    } catch {
      why = 'an error that could not be read'
    }
    throw invalid(reading, `reading it threw: ${why}`)
  }
}

/** The path being read, for an error thrown while reading it. */
let reading = ''

function measureFields (table: Record<string, unknown>, prefix: string, depth: number): number {
  if (depth > MAX_DEPTH) throw invalid(prefix, `nested more than ${MAX_DEPTH} deep (a circular value?)`)
  let size = 4
  // for...in, as amqplib: inherited enumerable keys are sent too.
  for (const key in table) {
    const path = prefix === '' ? key : `${prefix}.${key}`
    reading = path
    const value = table[key]
    if (value === undefined) continue
    const keyBytes = Buffer.byteLength(key)
    if (keyBytes > 255) throw invalid(path, `a header name is at most 255 bytes, this one is ${keyBytes}`)
    size += 1 + keyBytes + measureValue(value, path, depth)
  }
  return size
}

/**
 * @internal
 * The encoded size of each top-level header, largest first: what to name when
 * the whole table is too large, and what to drop first when trimming.
 */
export function headerSizes (table: Record<string, unknown>): Array<[name: string, bytes: number]> {
  const sizes: Array<[string, number]> = []
  for (const key of Object.keys(table)) {
    let bytes: number
    try {
      if (table[key] === undefined) continue
      bytes = measureTable({ [key]: table[key] }) - 4
    } catch {
      bytes = Infinity // cannot be sent at all: dropped first
    }
    sizes.push([key, bytes])
  }
  return sizes.sort((a, b) => b[1] - a[1])
}
