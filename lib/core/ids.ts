import { randomBytes } from 'node:crypto'

/*
 * Message and correlation ids: 72 random bits per process (12 base64url
 * characters) followed by a counter in base 36, e.g. "q3ZkR0b9Lm_x1a".
 * Unique across processes and restarts like a UUID, in about half the bytes,
 * which the broker reads on every message, and without a random draw per id.
 */

const PREFIX = randomBytes(9).toString('base64url')
let counter = 0

/** @internal A fresh id, unique among every process that uses this module. */
export function uniqueId (): string {
  return PREFIX + (++counter).toString(36)
}
