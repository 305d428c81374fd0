import t from 'tap'
import { nextStep, retryDelay } from '../../lib/core/retry'

const policy = { attempts: 5, delay: 1000, factor: 2, maxDelay: 5000, jitter: 0.2 }

t.test('retry delays grow by the factor up to maxDelay, and jitter moves each by at most its share', async (t) => {
  t.same([1, 2, 3, 4].map((n) => retryDelay({ ...policy, jitter: 0 }, n)), [1000, 2000, 4000, 5000], 'doubling, capped at maxDelay')
  t.equal(retryDelay(policy, 1, () => 0), 800, 'jitter shortens by at most 20%')
  t.equal(retryDelay(policy, 1, () => 1), 1200, 'and lengthens by at most 20%')
})

t.test('a failed message waits in the wait queue of its level while tries are left, then goes to the dead-letter queue', async (t) => {
  const first = nextStep('handler-failed', 1, policy, 2, true)
  t.match(first, { to: 'wait', level: 1 }, 'the first failure waits in the first wait queue')
  t.ok(first.to === 'wait' && first.delay >= 800 && first.delay <= 1200, 'for about the first delay')
  t.match(nextStep('handler-failed', 3, policy, 2, true), { to: 'wait', level: 2 }, 'later tries share the last wait queue')
  t.same(nextStep('handler-failed', 5, policy, 2, true), { to: 'dead-letter' }, 'after the last attempt: the dead-letter queue')
  t.same(nextStep('undecodable', 1, policy, 2, true), { to: 'dead-letter' }, 'a body that does not decode is never retried')
  t.same(nextStep('not-retryable', 1, policy, 2, false), { to: 'reject' }, 'without a dead-letter queue: rejected')
})

t.test('an attempt count the policy never gives goes to the dead-letter queue, never to a wait queue that does not exist', async (t) => {
  for (const attempt of [0, -5, 0.5, NaN, Infinity, 99, 1e9]) {
    const step = nextStep('handler-failed', attempt, policy, 2, true)
    t.same(step, { to: 'dead-letter' }, `attempt ${attempt}`)
  }
  t.same(nextStep('handler-failed', 1, policy, 0, true), { to: 'dead-letter' }, 'no retry levels: no wait queue')
})
