/*
 * Waiting with a limit: for an answer from the broker that may never come
 * (a blocked or silent connection), or for work that must end by a deadline.
 */

/** @internal Resolves when `p` settles, whichever way, or after `ms`, whichever comes first. */
export function bounded (p: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (p === undefined) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    const done = () => { clearTimeout(timer); resolve() }
    p.then(done, done)
  })
}

/** @internal Settles like `p`, or rejects with `onTimeout()` after `ms` if `p` has not settled by then. */
export function withTimeout<T> (p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms)
    p.then(
      (value) => { clearTimeout(timer); resolve(value) },
      (err: unknown) => { clearTimeout(timer); reject(err) }
    )
  })
}
