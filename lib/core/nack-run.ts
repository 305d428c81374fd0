/**
 * @internal
 * How long a publishing channel may get nothing but nacks before it is
 * reopened, in milliseconds. Above a quorum queue's leader election (a few
 * hundred milliseconds after a node dies) and a short burst against a full
 * queue; far below the 22 s run seen on a channel that kept nacking after
 * its quorum queue's leader moved (the queue had a new leader within
 * 350 ms).
 */
export const NACK_RUN_LIMIT = 2000

/**
 * @internal
 * Watches a confirm channel's acks and nacks for a run of nacks. The broker
 * nacks a publish it could not take (a full queue with x-overflow
 * reject-publish, a quorum queue it cannot reach): a few nacks are each
 * caller's to handle, but a channel that gets only nacks for longer than
 * `limit` ms is reopened, and reported degraded until a publish is acked
 * again. A run counts from its first nack, so a quiet hour before it does
 * not count; each new channel gets a whole `limit` of its own.
 */
export class NackRun {
  /** When the current channel's run began (its first nack since an ack or since it opened). */
  private since: number | undefined
  /** When the whole run began, across reopened channels, and how many nacks it holds. */
  private began: number | undefined
  private count = 0
  private stuck = false

  constructor (readonly limit: number = NACK_RUN_LIMIT, private readonly now: () => number = Date.now) {}

  /** True from the moment a run outlasted `limit` until the next ack. */
  get degraded (): boolean {
    return this.stuck
  }

  /** The nacks of the run so far, and for how long it has lasted, in milliseconds. */
  get run (): { nacks: number, ms: number } {
    return { nacks: this.count, ms: this.began === undefined ? 0 : this.now() - this.began }
  }

  /** An ack ends the run; true if it ends a degraded state. */
  ack (): boolean {
    const was = this.stuck
    this.since = undefined
    this.began = undefined
    this.count = 0
    this.stuck = false
    return was
  }

  /** A nack on the current channel; true when its run has just outlasted `limit` (reopen it now). */
  nack (): boolean {
    const now = this.now()
    this.count++
    this.began ??= now
    if (this.since === undefined) {
      this.since = now
      return false
    }
    if (now - this.since <= this.limit) return false
    this.stuck = true
    this.since = now
    return true
  }

  /** A new channel: its own bound starts with its first nack. The run (and a degraded state) goes on until an ack. */
  opened (): void {
    this.since = undefined
  }
}
