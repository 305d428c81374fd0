import { FST_AMQP_DECODE, FST_AMQP_ENCODE, FST_AMQP_MESSAGE_TOO_LARGE } from './errors'

/** @internal */
export const JSON_TYPE = 'application/json'
const TEXT_TYPE = 'text/plain; charset=utf-8'
const BINARY_TYPE = 'application/octet-stream'

/** @internal An encoded body and the content type that describes it. */
export interface Encoded {
  content: Buffer
  contentType: string
}

/**
 * @internal
 * Buffers go as they are (application/octet-stream), strings as UTF-8 text,
 * anything else as JSON. Throws FST_AMQP_ENCODE for what JSON cannot carry,
 * and FST_AMQP_MESSAGE_TOO_LARGE for a body over `maxSize` bytes (the broker
 * would close the channel on it, failing every publish in flight there).
 */
export function encode (body: unknown, maxSize = Infinity): Encoded {
  const encoded = encodeBody(body)
  if (encoded.content.length > maxSize) throw new FST_AMQP_MESSAGE_TOO_LARGE(encoded.content.length, maxSize, 'maxMessageSize')
  return encoded
}

function encodeBody (body: unknown): Encoded {
  if (Buffer.isBuffer(body)) return { content: body, contentType: BINARY_TYPE }
  if (typeof body === 'string') return { content: Buffer.from(body), contentType: TEXT_TYPE }
  let json: string | undefined
  try {
    json = JSON.stringify(body)
  } catch (err) {
    // Whatever a toJSON or a Proxy threw (null included) becomes a coded error.
    let why: string
    try {
      why = String((err as { message?: unknown } | null)?.message ?? err)
    } catch {
      why = 'an error that could not be read'
    }
    throw new FST_AMQP_ENCODE(why, { cause: err })
  }
  if (json === undefined) {
    throw new FST_AMQP_ENCODE(`${typeof body} is not JSON-serialisable`)
  }
  return { content: Buffer.from(json), contentType: JSON_TYPE }
}

function isJson (type: string): boolean {
  return type === JSON_TYPE || type.startsWith(JSON_TYPE + ';') || /^application\/[^;]*\+json\b/.test(type)
}

/**
 * @internal
 * JSON content types are parsed, text/* becomes a string, anything else
 * (including no content type) stays a Buffer. Throws FST_AMQP_DECODE.
 */
export function decode (content: Buffer, contentType: string | undefined, contentEncoding?: string): unknown {
  const type = (contentType ?? '').toLowerCase()
  if (contentEncoding && contentEncoding !== 'identity' && contentEncoding !== 'utf-8' && contentEncoding !== 'utf8') {
    throw new FST_AMQP_DECODE(type, `unsupported content encoding "${contentEncoding}"`)
  }
  if (isJson(type)) {
    if (content.length === 0) return undefined
    try {
      return JSON.parse(content.toString('utf8'))
    } catch (err) {
      throw new FST_AMQP_DECODE(type, (err as Error).message, { cause: err })
    }
  }
  if (type.startsWith('text/')) return content.toString('utf8')
  return content
}
