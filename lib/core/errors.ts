import createError from '@fastify/error'

/*
 * Every error fastify-warren raises, each with a stable FST_AMQP_* code.
 * The status code is what Fastify answers with if the error escapes a route.
 * The broker's own error, when there is one, is kept as `cause`.
 */

/** A plugin option is missing or has a bad value; the message names the field. */
export const FST_AMQP_INVALID_OPTION = createError('FST_AMQP_INVALID_OPTION', 'Invalid option "%s": %s', 500, TypeError)

/**
 * `app.amqp.<method>()` was called with no default registration (one without
 * a `name`): only named ones (`app.amqp.<name>`) are registered here.
 */
export const FST_AMQP_NOT_REGISTERED = createError('FST_AMQP_NOT_REGISTERED', 'app.amqp.%s() needs a registration without a name (app.register(warren, { url })); registered here: %s', 500)

/** publish(), request() or gather() on a client made by createWarren() before its start(): nothing is connected to send it. */
export const FST_AMQP_NOT_STARTED = createError('FST_AMQP_NOT_STARTED', '%s() before start(): call and await warren.start() first', 503)

/** A bad argument to publish(), request(), gather() or consume(); the message names it. */
export const FST_AMQP_INVALID_ARGUMENT = createError('FST_AMQP_INVALID_ARGUMENT', 'Invalid argument "%s": %s', 500, TypeError)

/** The broker could not be reached within connectTimeout. */
export const FST_AMQP_CONNECT_TIMEOUT = createError<'FST_AMQP_CONNECT_TIMEOUT', 503, [string, number, string, { cause: unknown }?]>('FST_AMQP_CONNECT_TIMEOUT', 'Could not connect to RabbitMQ at %s within %d ms: %s', 503)

/** The broker refused the user name or password. */
export const FST_AMQP_ACCESS_REFUSED = createError('FST_AMQP_ACCESS_REFUSED', 'RabbitMQ at %s refused the credentials: %s', 503)

/** The virtual host in the URL does not exist or the user may not open it. */
export const FST_AMQP_VHOST_NOT_ALLOWED = createError('FST_AMQP_VHOST_NOT_ALLOWED', 'RabbitMQ at %s refused the virtual host: %s', 503)

/**
 * The TLS connection failed in a way another attempt will not fix: the
 * broker's certificate is not trusted, has expired or does not name the
 * host; the broker refused the client certificate (or its absence); the key
 * or pfx could not be read. The message names Node's TLS error code and says
 * what to check; the TLS error is `cause`.
 */
export const FST_AMQP_TLS = createError('FST_AMQP_TLS', 'TLS connection to RabbitMQ at %s failed: %s', 503)

/** The broker's host name does not resolve (DNS answered that it does not exist). */
export const FST_AMQP_HOST_NOT_FOUND = createError('FST_AMQP_HOST_NOT_FOUND', 'The host of RabbitMQ at %s does not resolve: %s', 503)

/** The plugin is closing or closed; nothing new is accepted. */
export const FST_AMQP_CLOSED = createError('FST_AMQP_CLOSED', 'fastify-warren is closed: %s', 503)

/** No broker connection was available in time (publishTimeout, or at once with publishBuffer 0). */
export const FST_AMQP_NOT_CONNECTED = createError('FST_AMQP_NOT_CONNECTED', 'No connection to RabbitMQ: %s', 503)

/** The broker blocked publishing (memory or disk alarm) and did not resume in time. */
export const FST_AMQP_BLOCKED = createError('FST_AMQP_BLOCKED', 'RabbitMQ blocks publishing (%s) and did not resume within %d ms', 503)

/** publishBuffer messages, or publishBufferBytes bytes, already wait for the broker: this one is refused at once. */
export const FST_AMQP_BUFFER_FULL = createError('FST_AMQP_BUFFER_FULL', 'The publish buffer is full: %d messages (%d bytes) already wait for RabbitMQ', 503)

/**
 * The encoded body is larger than maxMessageSize, or than the broker's own
 * max_message_size (learnt when the broker refused one); the message names
 * which. Refused before sending, or by the broker.
 */
export const FST_AMQP_MESSAGE_TOO_LARGE = createError<'FST_AMQP_MESSAGE_TOO_LARGE', 413, [number, number, string?, { cause: unknown }?]>('FST_AMQP_MESSAGE_TOO_LARGE', 'The message body is %d bytes, more than the %d bytes %s allows', 413)

/**
 * A header (or a value nested in one) cannot be carried by AMQP: a Symbol, a
 * function, a BigInt, a name over 255 bytes, an out-of-range typed value...
 * `err.header` is its path (`meta.tags[2]`). Nothing was sent.
 */
export const FST_AMQP_INVALID_HEADER = createError('FST_AMQP_INVALID_HEADER', 'Invalid header "%s": %s', 500, TypeError)

/**
 * The headers take more bytes than a message can carry (amqplib encodes at
 * most 64 KiB of headers, and the broker's frame size bounds them too).
 * `err.header` names the largest. Nothing was sent.
 */
export const FST_AMQP_HEADERS_TOO_LARGE = createError('FST_AMQP_HEADERS_TOO_LARGE', 'The headers take %d bytes encoded, more than the %d a message can carry; the largest is "%s"', 413)

/** consume() named a queue this app already consumes: raise that consumer's prefetch for more concurrency instead. */
export const FST_AMQP_DUPLICATE_CONSUMER = createError('FST_AMQP_DUPLICATE_CONSUMER', 'This app already consumes queue "%s": a second consumer would split its messages with the first. Raise the first one\'s prefetch for more handlers at once', 500)

/** A mandatory message matched no queue (nobody would have received it). */
export const FST_AMQP_UNROUTABLE = createError('FST_AMQP_UNROUTABLE', 'Message to exchange "%s" with routing key "%s" was not routed to any queue', 502)

/** The broker refused the message (negative acknowledgement). */
export const FST_AMQP_PUBLISH_NACKED = createError('FST_AMQP_PUBLISH_NACKED', 'RabbitMQ did not accept the message to exchange "%s" with routing key "%s"', 503)

/** The message was sent but not confirmed (the channel closed, or the timeout passed): it may or may not have been delivered. */
export const FST_AMQP_PUBLISH_UNCONFIRMED = createError<'FST_AMQP_PUBLISH_UNCONFIRMED', 503, [string, string, string, { cause: unknown }?]>('FST_AMQP_PUBLISH_UNCONFIRMED', 'RabbitMQ did not confirm the message to exchange "%s" with routing key "%s" (%s): it may or may not have been delivered', 503)

/** publish(), request(), gather() or a pipeline stage's `next` named an exchange that does not exist. */
export const FST_AMQP_EXCHANGE_NOT_FOUND = createError('FST_AMQP_EXCHANGE_NOT_FOUND', 'Exchange "%s" does not exist', 500)

/** Declaring an exchange, queue or binding failed (for example, it exists with other arguments). */
export const FST_AMQP_TOPOLOGY = createError('FST_AMQP_TOPOLOGY', 'Could not declare %s: %s', 500)

/**
 * A queue or exchange exists with other settings than this service declares
 * (406 PRECONDITION_FAILED). The error has `queue` (or `exchange`), `argument`,
 * `expected` (what this service declares) and `actual` (what the broker has).
 */
export const FST_AMQP_TOPOLOGY_MISMATCH = createError<'FST_AMQP_TOPOLOGY_MISMATCH', 500, [string, string, string, string, string, { cause: unknown }?]>('FST_AMQP_TOPOLOGY_MISMATCH', '%s exists with %s = %s, but this service declares it with %s = %s; delete it or declare it the same way', 500)

/** A body could not be encoded (for example, a BigInt or a circular object), or amqplib could not write the message. */
export const FST_AMQP_ENCODE = createError('FST_AMQP_ENCODE', 'Could not encode the message: %s', 500, TypeError)

/**
 * A message failed its schema: a body or headers given to publish(),
 * request() or gather() (nothing was sent), or a message received (never
 * handed to the handler: dead-lettered, or answered with this error if it is
 * a request). As Fastify's FST_ERR_VALIDATION: `err.validation` holds the
 * errors (ajv's shape), `err.validationContext` is 'body' or 'headers'.
 */
export const FST_AMQP_INVALID_MESSAGE = createError('FST_AMQP_INVALID_MESSAGE', 'Invalid %s for "%s": %s', 400)

/** A reply failed its schema: request() rejects with it (`err.validation`), gather() lists it in `failed`. */
export const FST_AMQP_INVALID_REPLY = createError('FST_AMQP_INVALID_REPLY', 'Invalid reply to request "%s": %s', 502)

/** A received message could not be decoded according to its content type. */
export const FST_AMQP_DECODE = createError('FST_AMQP_DECODE', 'Could not decode a message with content type "%s": %s', 502)

/** A consumer handler threw or rejected. */
export const FST_AMQP_HANDLER_FAILED = createError('FST_AMQP_HANDLER_FAILED', 'The handler for queue "%s" failed (the error is the cause)', 500)

/** request() got no reply within its timeout. */
export const FST_AMQP_RPC_TIMEOUT = createError('FST_AMQP_RPC_TIMEOUT', 'No reply to request "%s" within %d ms', 504)

/** The remote handler of a request threw; the message carries the remote error message. */
export const FST_AMQP_RPC_REMOTE_ERROR = createError('FST_AMQP_RPC_REMOTE_ERROR', 'The handler of request "%s" failed: %s', 502)

/** The connection was lost while a request waited for its reply. */
export const FST_AMQP_RPC_INTERRUPTED = createError('FST_AMQP_RPC_INTERRUPTED', 'The connection was lost while request "%s" waited for its reply', 503)

/** Every error constructor, by code. */
export const errors = {
  FST_AMQP_INVALID_OPTION,
  FST_AMQP_NOT_REGISTERED,
  FST_AMQP_NOT_STARTED,
  FST_AMQP_INVALID_ARGUMENT,
  FST_AMQP_CONNECT_TIMEOUT,
  FST_AMQP_ACCESS_REFUSED,
  FST_AMQP_VHOST_NOT_ALLOWED,
  FST_AMQP_TLS,
  FST_AMQP_HOST_NOT_FOUND,
  FST_AMQP_CLOSED,
  FST_AMQP_NOT_CONNECTED,
  FST_AMQP_BLOCKED,
  FST_AMQP_BUFFER_FULL,
  FST_AMQP_MESSAGE_TOO_LARGE,
  FST_AMQP_INVALID_HEADER,
  FST_AMQP_HEADERS_TOO_LARGE,
  FST_AMQP_DUPLICATE_CONSUMER,
  FST_AMQP_UNROUTABLE,
  FST_AMQP_PUBLISH_NACKED,
  FST_AMQP_PUBLISH_UNCONFIRMED,
  FST_AMQP_EXCHANGE_NOT_FOUND,
  FST_AMQP_TOPOLOGY,
  FST_AMQP_TOPOLOGY_MISMATCH,
  FST_AMQP_ENCODE,
  FST_AMQP_DECODE,
  FST_AMQP_INVALID_MESSAGE,
  FST_AMQP_INVALID_REPLY,
  FST_AMQP_HANDLER_FAILED,
  FST_AMQP_RPC_TIMEOUT,
  FST_AMQP_RPC_REMOTE_ERROR,
  FST_AMQP_RPC_INTERRUPTED
}

/**
 * @internal
 * Adds a Retry-After header (whole seconds) to an error that may be worth
 * retrying, which Fastify sends when the error escapes a route.
 */
export function retryLater<E extends Error> (err: E, seconds: number): E {
  return Object.assign(err, { headers: { 'retry-after': String(Math.max(1, Math.ceil(seconds))) } })
}

// `status` as well as `statusCode` (and `headers`, set by retryLater()): the
// names Express's final handler and http-errors read, so an FST_AMQP_* error
// that escapes an Express route is answered with its status and Retry-After.
for (const E of Object.values(errors)) {
  Object.defineProperty(E.prototype, 'status', {
    get (this: { statusCode?: number }) { return this.statusCode },
    configurable: true
  })
}
