import t from 'tap'
import { groups } from './conformance/cases'
import { selectedTargets, type Target, type TargetName } from './conformance/brokers'
import { normalise, within } from './conformance/observe'

/*
 * The conformance suite: every golden case runs on each selected broker
 * (CONFORMANCE_BROKERS=rabbitmq|memory|both), on a fresh session, and what a
 * client observes must be the case's expected literal on RabbitMQ and the
 * same on the memory broker.
 */

/** How long one case may take on one broker, waits and clean-up included. */
const CASE_MS = 20000

async function observe (target: Target, run: (b: import('./conformance/brokers').Broker) => Promise<unknown>): Promise<unknown> {
  const session = await target.open()
  try {
    return normalise(await within(run(session.broker), `the case on ${target.name}`, CASE_MS), session.names)
  } finally {
    await session.close()
  }
}

t.test('conformance', async (t) => {
  const targets: Target[] = []
  for (const target of selectedTargets()) {
    const why = await target.unavailable()
    if (why === undefined) targets.push(target)
    else t.test(`the ${target.name} target`, { skip: why }, async () => {})
  }

  for (const [group, cases] of Object.entries(groups)) {
    t.test(group, async (t) => {
      for (const c of cases) {
        t.test(c.name, async (t) => {
          const seen: Partial<Record<TargetName, unknown>> = {}
          for (const target of targets) seen[target.name] = await observe(target, c.run)
          if ('rabbitmq' in seen) t.same(seen.rabbitmq, c.expect, 'RabbitMQ shows the expected observation')
          if ('memory' in seen) {
            if ('rabbitmq' in seen) t.same(seen.memory, seen.rabbitmq, 'the memory broker shows what RabbitMQ shows')
            else t.same(seen.memory, c.expect, 'the memory broker shows the expected observation')
          }
        })
      }
    })
  }
})
