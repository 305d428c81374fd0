import { randomBytes, randomFillSync } from 'node:crypto'

/*
 * Message ids: 72 random bits per process (12 base64url characters) followed
 * by a counter in base 36, e.g. "q3ZkR0b9Lm_x1a". Unique across processes and
 * restarts like a UUID, in about half the bytes, which the broker reads on
 * every message, and without a random draw per id.
 *
 * Correlation ids of requests must also be unguessable: a reply is matched to
 * its request by that id alone, and a service that answers one request learns
 * the requester's reply address. With a counter it could forge the replies
 * to the requests that follow. They are 96 random bits each, drawn from a
 * pool refilled 4 KiB at a time.
 */

const PREFIX = randomBytes(9).toString('base64url')
let counter = 0

/** @internal A fresh id, unique among every process that uses this module. */
export function uniqueId (): string {
  return PREFIX + (++counter).toString(36)
}

/** @internal Whether `id` has the form of the ids uniqueId() makes in this process (a caller may have copied one). */
export function isOwnIdForm (id: string): boolean {
  return id.startsWith(PREFIX)
}

const POOL = Buffer.alloc(4096)
let used = POOL.length

/** @internal A fresh id nobody can guess from the ids seen before it: 16 base64url characters. */
export function secretId (): string {
  if (used + 12 > POOL.length) {
    randomFillSync(POOL)
    used = 0
  }
  used += 12
  return POOL.toString('base64url', used - 12, used)
}
