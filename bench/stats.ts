/** The value below which a fraction `p` (0–1) of the sorted values lie (nearest rank). */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil(p * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

/** The middle value (the mean of the two middle ones for an even count), NaN (a failed round) left out. */
export function median (values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Least-squares slope of y over x. */
export function slope (xs: number[], ys: number[]): number {
  const n = xs.length
  if (n < 2) return 0
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my)
    den += (xs[i] - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

/** Milliseconds since an arbitrary origin, sub-millisecond precise. */
export function now (): number {
  return performance.now()
}

/** Operations per second for `count` operations that took `ms` milliseconds. */
export function perSecond (count: number, ms: number): number {
  return count / (ms / 1000)
}

/**
 * The order of the implementations in round `round` (from 0): the list
 * rotated to start at its (round mod n)-th name, so that over n rounds each
 * implementation runs once in every position (first, second, ... last).
 */
export function rotation<T> (names: readonly T[], round: number): T[] {
  if (names.length === 0) return []
  const k = round % names.length
  return [...names.slice(k), ...names.slice(0, k)]
}
