import t from 'tap'
import { NackRun } from '../../lib/core/nack-run'

/** A run with a clock the test moves. */
function run (limit = 2000): { r: NackRun, at: (ms: number) => void } {
  let now = 0
  return { r: new NackRun(limit, () => now), at: (ms) => { now = ms } }
}

t.test('nacks for no longer than the bound are no run: nothing is reopened and nothing is degraded', async (t) => {
  const { r, at } = run()
  at(0)
  t.equal(r.nack(), false)
  at(2000)
  t.equal(r.nack(), false, 'exactly the bound is not longer than it')
  t.equal(r.degraded, false)
})

t.test('only nacks for longer than the bound: reopen once, degraded until an ack, and the new channel gets a whole bound of its own', async (t) => {
  const { r, at } = run()
  at(0)
  r.nack()
  at(1000)
  r.nack()
  at(2001)
  t.equal(r.nack(), true, 'reopen now')
  t.equal(r.degraded, true)
  t.same(r.run, { nacks: 3, ms: 2001 })
  r.opened()
  at(2100)
  t.equal(r.nack(), false, 'the new channel\'s first nack starts its bound')
  at(4100)
  t.equal(r.nack(), false)
  at(4101)
  t.equal(r.nack(), true, 'reopen again once the new channel outlasts it too')
  t.same(r.run, { nacks: 6, ms: 4101 }, 'the run counts across channels')
  t.equal(r.ack(), true, 'an ack ends the degraded state')
  t.equal(r.degraded, false)
  t.same(r.run, { nacks: 0, ms: 0 })
})

t.test('an ack among the nacks ends the run, and a quiet time before the first nack does not count', async (t) => {
  const { r, at } = run()
  at(0)
  r.nack()
  at(1500)
  t.equal(r.ack(), false, 'it ended no degraded state')
  at(1600)
  r.nack()
  at(3000)
  t.equal(r.nack(), false, 'the run began at 1600, not at 0')
  at(60000)
  r.ack()
  at(600000)
  t.equal(r.nack(), false, 'a nack after ten quiet minutes starts a run, it does not end one')
})
