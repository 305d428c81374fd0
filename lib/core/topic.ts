/*
 * RabbitMQ's topic matching, as the broker does it: keys and patterns are
 * words separated by dots (an empty word is a word: "a..b" has three, but
 * "" has none), `*` matches exactly one word and `#` zero or more, anywhere in
 * the pattern.
 */

function wordsOf (s: string): string[] {
  return s === '' ? [] : s.split('.')
}

/** @internal Whether a topic binding `pattern` routes messages published with `key`. */
export function topicMatches (pattern: string, key: string): boolean {
  return match(wordsOf(pattern), 0, wordsOf(key), 0)
}

function match (pattern: string[], p: number, words: string[], w: number): boolean {
  for (;;) {
    if (p === pattern.length) return w === words.length
    const word = pattern[p]
    if (word === '#') {
      // Collapse runs of '#', then try every split of the remaining words.
      while (p + 1 < pattern.length && pattern[p + 1] === '#') p++
      if (p + 1 === pattern.length) return true
      for (let skip = w; skip <= words.length; skip++) {
        if (match(pattern, p + 1, words, skip)) return true
      }
      return false
    }
    if (w === words.length) return false
    if (word !== '*' && word !== words[w]) return false
    p++
    w++
  }
}
