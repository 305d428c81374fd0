/*
 * Where a stream consumer reads from. A stream keeps every message, and a
 * consumer says where to start (`x-stream-offset`); the broker then tells the
 * offset of each message in its `x-stream-offset` header. The cursor keeps
 * what the handlers finished, so that a channel or connection restart
 * resumes after the last message handled instead of at the configured
 * offset again (which would re-read the stream from 'first', or skip what
 * was published meanwhile for 'next').
 */

/** @internal Where a stream consumer starts: a position name, an offset, or a time. */
export type StreamOffset = 'first' | 'last' | 'next' | number | Date

/** @internal The position names RabbitMQ takes as x-stream-offset. */
export const OFFSET_NAMES: readonly string[] = ['first', 'last', 'next']

/**
 * @internal
 * The x-stream-offset consumer argument for `offset`: a Date goes as an AMQP
 * timestamp (whole seconds: what RabbitMQ compares chunk times with).
 */
export function offsetArgument (offset: StreamOffset): unknown {
  if (offset instanceof Date) return { '!': 'timestamp', value: Math.floor(offset.getTime() / 1000) }
  return offset
}

/**
 * @internal
 * The offset a stream delivery carries in its x-stream-offset header, if it
 * is one: a non-negative safe integer. Anything else (absent, forged,
 * out of range) is not trusted as a place to resume from.
 */
export function deliveredOffset (headers: Record<string, unknown> | undefined): number | undefined {
  const value = headers?.['x-stream-offset']
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined
}

/** One subscription: where it started, and what it delivered that is not handled yet. */
interface Subscription {
  from: StreamOffset
  /** When it subscribed, for a restart that has no offset to go on. */
  at: number
  inFlight: Set<number>
  /** The highest offset handled. */
  done: number | undefined
}

/**
 * @internal
 * A stream consumer's position. `start()` is called for every subscription
 * (the first, and each after a restart); `delivered()` for every message,
 * and what it returns once its handler is over (success or failure alike:
 * a stream moves on either way).
 */
export class StreamCursor {
  private current: Subscription | undefined
  /** The highest offset handled, over every subscription. */
  last: number | undefined
  /** Messages whose handler failed. */
  failed = 0

  constructor (private readonly initial: StreamOffset) {}

  /**
   * Where the next subscription starts: the configured offset the first
   * time; after a restart, the oldest message still in flight (its handler
   * may not finish: it is delivered again), else the one after the last
   * handled. A subscription that received nothing restarts where it
   * started, except that 'next' and 'last' become the second it subscribed,
   * so that what was published meanwhile is not skipped (a few messages of
   * that second may come again).
   */
  start (now = Date.now()): StreamOffset {
    const previous = this.current
    let from: StreamOffset = this.initial
    if (previous !== undefined) {
      if (previous.inFlight.size > 0) from = Math.min(...previous.inFlight)
      else if (previous.done !== undefined) from = previous.done + 1
      else if (previous.from === 'next' || previous.from === 'last') from = new Date(previous.at)
      else from = previous.from
    }
    this.current = { from, at: now, inFlight: new Set(), done: undefined }
    return from
  }

  /**
   * A message arrived with `headers`; call what it returns once its handler
   * is over. A message without a valid offset is not tracked.
   */
  delivered (headers: Record<string, unknown> | undefined): () => void {
    const offset = deliveredOffset(headers)
    const sub = this.current
    if (offset === undefined || sub === undefined) return noop
    sub.inFlight.add(offset)
    return () => {
      sub.inFlight.delete(offset)
      if (sub.done === undefined || offset > sub.done) sub.done = offset
      if (this.last === undefined || offset > this.last) this.last = offset
    }
  }
}

function noop (): void {}
