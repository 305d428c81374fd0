/**
 * @internal
 * What was written on one confirm channel and not yet confirmed, by publish
 * sequence. The broker numbers a confirm channel's publishes 1, 2, 3... and
 * confirms them by that number, one at a time or every one up to a number
 * (`multiple`), in any order. Keeping them here lets a publish go without a
 * callback of its own: the channel's ack and nack events settle them.
 *
 * The entries live in an array from `head` on; a settled entry becomes
 * undefined until the entries before it are settled too, and the array is
 * compacted once its dead start outweighs its live end.
 */
export class ConfirmWindow<T> {
  private entries: Array<T | undefined> = []
  private head = 0
  /** The sequence number of entries[head]. */
  private base = 1
  /** Entries not yet settled. */
  size = 0
  /** Keys of the messages the broker returned on this channel, until their confirm (see publisher.ts). */
  readonly returned = new Set<string>()

  /** Records the next publish on the channel. */
  push (entry: T): void {
    this.entries.push(entry)
    this.size++
  }

  /**
   * Takes the entries the broker confirmed: the one numbered `seq`, or every
   * one up to it with `multiple`. Calls `settle` on each, in order; numbers
   * the broker never used, or confirmed already, are ignored.
   */
  confirm (seq: number, multiple: boolean, settle: (entry: T) => void): void {
    const at = this.head + seq - this.base
    if (!Number.isSafeInteger(seq) || at < this.head || at >= this.entries.length) return
    if (multiple) {
      for (let i = this.head; i <= at; i++) this.take(i, settle)
    } else {
      this.take(at, settle)
    }
    this.advance()
  }

  /** Takes every entry left, in order (the channel closed). */
  clear (settle: (entry: T) => void): void {
    const rest = this.entries
    const from = this.head
    this.entries = []
    this.base += rest.length - from
    this.head = 0
    this.size = 0
    this.returned.clear()
    for (let i = from; i < rest.length; i++) {
      const entry = rest[i]
      if (entry !== undefined) settle(entry)
    }
  }

  /** Every entry not yet settled, in order. */
  * [Symbol.iterator] (): IterableIterator<T> {
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i]
      if (entry !== undefined) yield entry
    }
  }

  private take (i: number, settle: (entry: T) => void): void {
    const entry = this.entries[i]
    if (entry === undefined) return
    this.entries[i] = undefined
    this.size--
    settle(entry)
  }

  /** Moves past the settled start, and drops it once it is the larger part. */
  private advance (): void {
    const { entries } = this
    while (this.head < entries.length && entries[this.head] === undefined) {
      this.head++
      this.base++
    }
    if (this.head === entries.length) {
      entries.length = 0
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > entries.length) {
      this.entries = entries.slice(this.head)
      this.head = 0
    }
  }
}
