import diagnostics from 'node:diagnostics_channel'

/*
 * Node's diagnostics_channel tracing channels, as Fastify core publishes
 * `tracing:fastify.request.handler`: any APM can subscribe without a plugin.
 * Each channel publishes `start`, `end`, `asyncStart`, `asyncEnd` and `error`
 * with the same context object, documented in docs/observability.md.
 */

/** What `fastify-warren:publish` subscribers see: one message sent (publish, pipeline forward). */
export interface PublishEvent {
  /** What sent it: `publish` (publish()) or `forward` (a pipeline stage). */
  operation: 'publish' | 'forward'
  exchange: string
  routingKey: string
  /**
   * The headers the message will carry: a `start` subscriber may add to them
   * (its own trace context, say) before the message is built.
   */
  headers: Record<string, unknown>
  /** Set once the message is built. */
  messageId?: string
  correlationId?: string
  bodySize?: number
  /** On `asyncEnd`: what publish() resolved with. */
  result?: unknown
  /** On `error`: why it failed. */
  error?: unknown
}

/** What `fastify-warren:process` subscribers see: one delivery handled by a consumer. */
export interface ProcessEvent {
  queue: string
  exchange: string
  routingKey: string
  messageId: string | undefined
  correlationId: string | undefined
  attempt: number
  /** The message as the handler receives it. */
  message: unknown
  /** On `asyncEnd`: how the delivery was settled (`ack`, `retry`, `dead-letter`, `reject`, `requeue`, `reply`, `forward`). */
  outcome?: string
  /**
   * Why the message could not be processed (undecodable, invalid, the
   * handler threw), set before `asyncEnd`: such a failure is handled (retry,
   * dead-letter, error reply), so it does not fire `error`.
   */
  error?: unknown
}

/** What `fastify-warren:request` subscribers see: one request() or gather(). */
export interface RequestEvent {
  operation: 'request' | 'gather'
  exchange: string
  routingKey: string
  /** The headers the request will carry; a `start` subscriber may add to them. */
  headers: Record<string, unknown>
  correlationId?: string
  bodySize?: number
  result?: unknown
  error?: unknown
}

/** @internal The three channels. */
export const channels = {
  publish: diagnostics.tracingChannel<string, PublishEvent>('fastify-warren:publish'),
  process: diagnostics.tracingChannel<string, ProcessEvent>('fastify-warren:process'),
  request: diagnostics.tracingChannel<string, RequestEvent>('fastify-warren:request')
}
