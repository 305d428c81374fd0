import t from 'tap'
import { topicMatches } from '../../lib/core/topic'

// [pattern, routing key, matches]: RabbitMQ's own rules (the routing test checks the broker agrees on its cases).
const CASES: Array<[string, string, boolean]> = [
  ['a.b', 'a.b', true],
  ['a.b', 'a.c', false],
  ['*', 'a', true],
  ['*', 'a.b', false],
  ['*', '', false],
  ['#', '', true],
  ['#', 'a.b.c', true],
  ['a.#', 'a', true],
  ['a.#', 'a.b.c', true],
  ['a.#', 'b.a', false],
  ['#.c', 'c', true],
  ['#.c', 'a.b.c', true],
  ['#.c', 'a.b.cc', false],
  ['a.#.c', 'a.c', true],
  ['a.#.c', 'a.b.b.c', true],
  ['a.#.c', 'a.b.b', false],
  ['a.*.c', 'a.b.c', true],
  ['a.*.c', 'a.c', false],
  ['a.*.c', 'a..c', true],
  ['*.*', '.', true],
  ['*', '.', false],
  ['#.#', 'a', true],
  ['#.*', '', false],
  ['#.*', 'a.b', true],
  ['*.#', 'a', true],
  ['a.*', 'a.', true],
  ['', '', true],
  ['', 'a', false],
  ['kern.*', 'kernel.critical', false],
  ['#.critical', 'kern.disk.critical', true]
]

t.test('topicMatches() follows RabbitMQ: * is one word, # zero or more, an empty word is a word and an empty key has none', async (t) => {
  for (const [pattern, key, expected] of CASES) t.equal(topicMatches(pattern, key), expected, `"${pattern}" ${expected ? 'matches' : 'does not match'} "${key}"`)
})
