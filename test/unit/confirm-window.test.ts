import t from 'tap'
import { ConfirmWindow } from '../../lib/core/confirm-window'

function windowOf (n: number): ConfirmWindow<number> {
  const w = new ConfirmWindow<number>()
  for (let i = 1; i <= n; i++) w.push(i)
  return w
}

t.test('a multiple confirm settles every publish up to its number, in order, once', async (t) => {
  const w = windowOf(5)
  const got: number[] = []
  w.confirm(3, true, (n) => got.push(n))
  w.confirm(3, true, (n) => got.push(n))
  t.same(got, [1, 2, 3])
  t.equal(w.size, 2)
  t.same([...w], [4, 5], 'the rest are still awaited')
})

t.test('single confirms may come in any order, and a gap holds nothing back', async (t) => {
  const w = windowOf(4)
  const got: number[] = []
  w.confirm(2, false, (n) => got.push(n))
  w.confirm(4, false, (n) => got.push(n))
  w.confirm(1, false, (n) => got.push(n))
  t.same(got, [2, 4, 1])
  t.same([...w], [3])
  w.confirm(3, true, (n) => got.push(n))
  t.same(got, [2, 4, 1, 3])
  t.equal(w.size, 0)
  w.push(5)
  w.confirm(5, false, (n) => got.push(n))
  t.same(got, [2, 4, 1, 3, 5], 'numbering goes on after the window emptied')
})

t.test('a number the broker never used, or not a number at all, settles nothing', async (t) => {
  const w = windowOf(2)
  const got: number[] = []
  for (const seq of [0, -1, 3, 1.5, Number.NaN, 2 ** 60]) w.confirm(seq, true, (n) => got.push(n))
  t.same(got, [])
  t.equal(w.size, 2)
})

t.test('clear() settles what is left, in order, and later numbers go on from there', async (t) => {
  const w = windowOf(3)
  w.returned.add('m:x')
  const got: number[] = []
  w.confirm(2, false, (n) => got.push(n))
  w.clear((n) => got.push(-n))
  t.same(got, [2, -1, -3])
  t.equal(w.size, 0)
  t.equal(w.returned.size, 0, 'returns waiting for their confirm go too')
  w.push(4)
  w.confirm(4, false, (n) => got.push(n))
  t.same(got, [2, -1, -3, 4])
})

t.test('a publish left unconfirmed under a long run of confirmed ones is still found by its number', async (t) => {
  const w = new ConfirmWindow<number>()
  const got: number[] = []
  for (let i = 1; i <= 10_000; i++) {
    w.push(i)
    if (i > 1) w.confirm(i, false, (n) => got.push(n))
  }
  t.equal(got.length, 9999)
  t.equal(got.at(-1), 10_000)
  t.same([...w], [1], 'the first is still awaited')
  w.confirm(1, false, (n) => got.push(n))
  t.equal(w.size, 0)
})

t.test('numbering stays right when the settled start is dropped behind a gap', async (t) => {
  const w = new ConfirmWindow<number>()
  const got: number[] = []
  for (let i = 1; i <= 5000; i++) w.push(i)
  w.confirm(3000, true, (n) => got.push(n))
  w.confirm(4000, false, (n) => got.push(n))
  t.equal(got.length, 3001)
  w.push(5001)
  w.confirm(3001, false, (n) => got.push(n))
  w.confirm(5001, false, (n) => got.push(n))
  t.same(got.slice(-3), [4000, 3001, 5001])
  t.equal(w.size, 5001 - 3003)
  t.same([...w].slice(0, 2), [3002, 3003])
})
