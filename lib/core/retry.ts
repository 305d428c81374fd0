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
  /** The body or headers failed the consumer's schema; the handler never saw it. */
  | 'invalid'
  /** A pipeline stage's result failed the schema of the next stage's definition. */
  | 'invalid-result'

/** @internal Where a failed message goes next. */
export type Step =
  | { to: 'wait', level: number, delay: number }
  | { to: 'dead-letter' }
  | { to: 'reject' }

/** @internal The wait before try `attempt + 1`, after `attempt` failed tries (1-based). */
export function retryDelay (policy: NormalizedRetry, attempt: number, random = Math.random): number {
  const base = Math.min(policy.maxDelay, policy.delay * policy.factor ** (attempt - 1))
  const spread = base * policy.jitter
  return Math.max(0, Math.round(base - spread + random() * 2 * spread))
}

/**
 * @internal
 * The next step for a message that failed its `attempt`-th try for `reason`:
 * the wait queue of level min(attempt, retryLevels) while tries are left,
 * then the dead-letter queue if there is one. An attempt past the policy's
 * (a forged count) goes to the dead-letter queue at once.
 */
export function nextStep (reason: FailureReason, attempt: number, policy: NormalizedRetry, retryLevels: number, hasDeadLetter: boolean): Step {
  const retryable = reason === 'handler-failed' || reason === 'forward-failed'
  if (retryable && Number.isSafeInteger(attempt) && attempt >= 1 && attempt < policy.attempts && retryLevels > 0) {
    return { to: 'wait', level: Math.min(attempt, retryLevels), delay: retryDelay(policy, attempt) }
  }
  if (hasDeadLetter) return { to: 'dead-letter' }
  return { to: 'reject' }
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
