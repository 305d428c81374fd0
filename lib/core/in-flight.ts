/**
 * @internal
 * Counts work in flight (handlers running, publishes awaiting their confirm)
 * so that close can wait for it to finish, up to a timeout.
 */
export class InFlight {
  private count = 0
  private onIdle: (() => void) | undefined

  get size (): number {
    return this.count
  }

  enter (): void {
    this.count++
  }

  leave (): void {
    if (--this.count === 0 && this.onIdle) this.onIdle()
  }

  /** Resolves true once nothing is in flight, or false after `timeout` ms. */
  idle (timeout: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true)
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeout)
      this.onIdle = () => {
        clearTimeout(timer)
        resolve(true)
      }
    })
  }
}
