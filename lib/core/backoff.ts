/**
 * @internal
 * Exponential backoff with jitter: the n-th consecutive failure waits a random
 * time between half and all of min(max, initial × 2^(n-1)). `reset()` after a
 * success starts again from `initial`.
 */
export class Backoff {
  private failures = 0

  constructor (private readonly initial: number, private readonly max: number) {}

  /** The wait before the next attempt, in milliseconds; counts one more failure. */
  next (): number {
    const ceiling = this.peek()
    this.failures++
    return Math.round(ceiling / 2 + Math.random() * ceiling / 2)
  }

  /** The ceiling of the next wait, without counting a failure: a hint for Retry-After. */
  peek (): number {
    return Math.min(this.max, this.initial * 2 ** Math.min(this.failures, 30))
  }

  reset (): void {
    this.failures = 0
  }
}
