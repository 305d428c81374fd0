import { uniqueId } from './ids'
import type { ConsumeMessage, Options } from 'amqplib'

/*
 * What happens to a message whose handling failed: wait and try again
 * (a wait queue with a per-message TTL that dead-letters back), go to the
 * dead-letter queue with the reason, or, without one, be rejected. Pure
 * functions; the consumer does the publishing and settling.
 */

/** @internal Retry settings after validation. */
export interface NormalizedRetry {
  /** Tries in all, the first delivery included. */
  attempts: number
  /** Wait before the second try, in milliseconds. */
  delay: number
  factor: number
  maxDelay: number
  /** 0–1: each wait is moved by up to this share of itself, at random. */
  jitter: number
}

/** @internal Why a message left its queue without being handled. */
export type FailureReason =
  /** The handler threw on the last allowed attempt. */
  | 'handler-failed'
  /** The handler threw an error marked `retry: false`. */
  | 'not-retryable'
  /** The body did not decode for its content type; the handler never saw it. */
  | 'undecodable'
  /** A pipeline stage's result could not be published to the next stage. */
  | 'forward-failed'
  /** A pipeline stage's result could not be encoded. */
  | 'unencodable-result'

/** @internal Headers fastify-warren sets on a message it moves to a wait queue or the dead-letter queue. */
export const HEADERS = {
  /** Failed attempts so far. */
  attempts: 'x-warren-attempts',
  reason: 'x-warren-reason',
  errorMessage: 'x-warren-error-message',
  errorCode: 'x-warren-error-code',
  /** The queue it failed in. */
  queue: 'x-warren-queue',
  /** Where it was first published: the handler sees these, not the wait queue's. */
  exchange: 'x-warren-exchange',
  routingKey: 'x-warren-routing-key',
  failedAt: 'x-warren-failed-at'
} as const

/** @internal Where a failed message goes next. */
export type Step =
  | { to: 'wait', queue: string, delay: number }
  | { to: 'dead-letter', queue: string }
  | { to: 'reject' }

/** @internal The wait before try `attempt + 1`, after `attempt` failed tries (1-based). */
export function retryDelay (policy: NormalizedRetry, attempt: number, random = Math.random): number {
  const base = Math.min(policy.maxDelay, policy.delay * policy.factor ** (attempt - 1))
  const spread = base * policy.jitter
  return Math.max(0, Math.round(base - spread + random() * 2 * spread))
}

/**
 * @internal
 * Whether a delivery came back from one of this consumer's wait queues: the
 * broker dead-letters it through the default exchange with the queue's own
 * name as routing key, carrying the attempts header.
 */
export function fromWaitQueue (raw: ConsumeMessage, queue: string): boolean {
  return raw.fields.exchange === '' && raw.fields.routingKey === queue &&
    typeof raw.properties.headers?.[HEADERS.attempts] === 'number'
}

/** @internal This delivery's try number, from 1. A redelivery after a crash is not counted. */
export function attemptOf (raw: ConsumeMessage, queue: string): number {
  return fromWaitQueue(raw, queue) ? (raw.properties.headers![HEADERS.attempts] as number) + 1 : 1
}

/** @internal Where the message was published to before any retry: what its handler sees. */
export function origin (raw: ConsumeMessage, queue: string): { exchange: string, routingKey: string } {
  if (!fromWaitQueue(raw, queue)) return { exchange: raw.fields.exchange, routingKey: raw.fields.routingKey }
  const h = raw.properties.headers!
  return {
    exchange: typeof h[HEADERS.exchange] === 'string' ? h[HEADERS.exchange] : raw.fields.exchange,
    routingKey: typeof h[HEADERS.routingKey] === 'string' ? h[HEADERS.routingKey] : raw.fields.routingKey
  }
}

/** @internal Whether the handler marked its error as not worth another try (see `noRetry`). */
export function isRetryable (err: unknown): boolean {
  return !(err !== null && typeof err === 'object' && (err as { retry?: unknown }).retry === false)
}

/** @internal The next step for a message that failed its `attempt`-th try for `reason`. */
export function nextStep (reason: FailureReason, attempt: number, policy: NormalizedRetry, waitQueues: string[], deadLetter: string | undefined): Step {
  const retryable = reason === 'handler-failed' || reason === 'forward-failed'
  if (retryable && attempt < policy.attempts && waitQueues.length > 0) {
    const level = Math.min(attempt, waitQueues.length)
    return { to: 'wait', queue: waitQueues[level - 1], delay: retryDelay(policy, attempt) }
  }
  if (deadLetter !== undefined) return { to: 'dead-letter', queue: deadLetter }
  return { to: 'reject' }
}

/**
 * @internal
 * The properties of the copy that goes to a wait queue or the dead-letter
 * queue: the original's, with the failure recorded in headers. user_id is
 * dropped (the broker refuses one that is not the connection's user) and so
 * is the original expiration (the wait queue's copy expires after its delay;
 * the dead-letter copy never does).
 */
export function failedCopy (raw: ConsumeMessage, queue: string, step: Exclude<Step, { to: 'reject' }>, reason: FailureReason, attempt: number, err: unknown): Options.Publish & { messageId: string } {
  const p = raw.properties
  const where = origin(raw, queue)
  const e = err as { message?: unknown, code?: unknown } | undefined
  const headers: Record<string, unknown> = {
    ...p.headers,
    [HEADERS.attempts]: attempt,
    [HEADERS.reason]: reason,
    [HEADERS.errorMessage]: String(e?.message ?? err).slice(0, 1000),
    [HEADERS.queue]: queue,
    [HEADERS.exchange]: where.exchange,
    [HEADERS.routingKey]: where.routingKey,
    [HEADERS.failedAt]: new Date().toISOString()
  }
  if (e?.code !== undefined && e.code !== null) headers[HEADERS.errorCode] = String(e.code)
  else delete headers[HEADERS.errorCode]
  return {
    // The message id survives retries, so a consumer can deduplicate across them.
    messageId: typeof p.messageId === 'string' ? p.messageId : uniqueId(),
    correlationId: p.correlationId,
    contentType: p.contentType,
    contentEncoding: p.contentEncoding,
    type: p.type,
    appId: p.appId,
    timestamp: p.timestamp,
    priority: p.priority,
    headers,
    persistent: step.to === 'dead-letter' || p.deliveryMode === 2,
    expiration: step.to === 'wait' ? String(step.delay) : undefined,
    mandatory: true
  }
}

/**
 * Marks an error as not worth another try: thrown from a consumer's handler,
 * its message goes to the dead-letter queue at once (with reason
 * `not-retryable`) instead of waiting for another attempt. Any error with
 * `retry: false` does the same.
 *
 * @example
 * if (!product) throw noRetry(new Error(`unknown product ${sku}`))
 */
export function noRetry<E extends object> (err: E): E & { retry: false } {
  return Object.assign(err, { retry: false as const })
}
