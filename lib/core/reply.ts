import { encode, JSON_TYPE } from './codec'
import type { Publisher } from './publisher'

/*
 * The responder side of RPC: a consumer that received a message with
 * reply_to answers on the default exchange, with the request's correlation id.
 * Replies are transient, not mandatory and not confirmed: direct reply-to has
 * no queue to keep them in, so they are at most once whatever we do, and the
 * requester's timeout covers a lost one. The request is acked once its reply
 * is written.
 */

/** @internal Header that marks a reply as the remote handler's error. */
export const ERROR_HEADER = 'x-warren-error'

/** @internal Sends the handler's result (undefined as null); a result JSON cannot carry, or over maxSize bytes, becomes an error reply. */
export function sendReply (publisher: Publisher, replyTo: string, correlationId: string | undefined, result: unknown, maxSize: number, onEncodeError: (err: Error) => void): Promise<unknown> {
  let encoded
  try {
    encoded = encode(result === undefined ? null : result, maxSize)
  } catch (err) {
    onEncodeError(err as Error)
    return sendErrorReply(publisher, replyTo, correlationId, err as Error)
  }
  return publisher.publish('', replyTo, encoded.content, {
    correlationId,
    contentType: encoded.contentType,
    persistent: false,
    mandatory: false,
    timestamp: Math.floor(Date.now() / 1000)
  })
}

/** @internal Sends `{"error": {message, code}}` with the x-warren-error header. */
export function sendErrorReply (publisher: Publisher, replyTo: string, correlationId: string | undefined, err: Error): Promise<unknown> {
  const code: unknown = (err as any)?.code
  // The code travels as a header and in JSON: a string, whatever the handler threw.
  const error = { message: err?.message ?? String(err), code: code === undefined || code === null ? undefined : String(code) }
  return publisher.publish('', replyTo, Buffer.from(JSON.stringify({ error })), {
    correlationId,
    contentType: JSON_TYPE,
    headers: { [ERROR_HEADER]: error.code ?? 'Error' },
    persistent: false,
    mandatory: false,
    timestamp: Math.floor(Date.now() / 1000)
  })
}
