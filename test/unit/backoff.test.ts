import t from 'tap'
import { Backoff } from '../../lib/core/backoff'

t.test('each wait lies between half and all of a ceiling that doubles up to the maximum', async (t) => {
  const b = new Backoff(100, 1000)
  const ceilings = [100, 200, 400, 800, 1000, 1000]
  for (const ceiling of ceilings) {
    t.equal(b.peek(), ceiling)
    const wait = b.next()
    t.ok(wait >= ceiling / 2 && wait <= ceiling, `${wait} within [${ceiling / 2}, ${ceiling}]`)
  }
})

t.test('reset() starts again from the first wait, and peek() counts no failure', async (t) => {
  const b = new Backoff(50, 10000)
  b.next()
  b.next()
  t.equal(b.peek(), 200)
  t.equal(b.peek(), 200)
  b.reset()
  t.equal(b.peek(), 50)
})

t.test('a long run of failures never overflows the ceiling', async (t) => {
  const b = new Backoff(1000, 30000)
  for (let i = 0; i < 2000; i++) b.next()
  t.equal(b.peek(), 30000)
})
