import t from 'tap'
import { asyncApi, http, launcher, service, vhost, waitFor, type Service } from './examples'

/*
 * The publish-subscribe example as real processes in a virtual host of their
 * own: a publisher, the audit service (one named durable queue shared by its
 * instances) and the dashboard (an exclusive queue per instance).
 */

const EXAMPLE = 'publish-subscribe'

/** The ids of the events a subscriber instance has, in the order it got them. */
async function ids (s: Service): Promise<string[]> {
  const { status, json } = await http('GET', s.base + '/events')
  if (status !== 200) throw new Error(`${s.name} answered ${status}`)
  return json.map((e: { id: string }) => e.id)
}

async function publish (publisher: Service, type: string): Promise<string> {
  const { status, json } = await http('POST', publisher.base + '/events', { type, data: { n: type } })
  if (status !== 202) throw new Error(`POST /events answered ${status}: ${JSON.stringify(json)}`)
  return json.id
}

/** The services' output for a failure message, without the request log lines of the polling. */
const logs = (...services: Service[]) => () => services.map((s) =>
  `--- ${s.name}\n${s.output.join('').split('\n').filter((l) => !/"msg":"(incoming request|request completed)"/.test(l)).join('\n')}`).join('\n')

t.test('the publish-subscribe example', async (t) => {
  const env = { AMQP_URL: await vhost(t) }
  const publisher = await service(t, EXAMPLE, 'publisher.ts', env)

  let unheard = ''
  await t.test('the publisher accepts an event nobody subscribes to (mandatory is off) and the broker drops it', async (t) => {
    const { status, json } = await http('POST', publisher.base + '/events', { type: 'nobody.listens' })
    t.equal(status, 202)
    t.equal(json.published, true)
    unheard = json.id
  })

  const audit1 = await service(t, EXAMPLE, 'audit.ts', env, 'audit-1')
  const audit2 = await service(t, EXAMPLE, 'audit.ts', env, 'audit-2')
  const dashboard1 = await service(t, EXAMPLE, 'dashboard.ts', env, 'dashboard-1')
  const dashboard2 = await service(t, EXAMPLE, 'dashboard.ts', env, 'dashboard-2')

  await t.test('every service serves an AsyncAPI document without errors', async (t) => {
    for (const s of [publisher, audit1, audit2, dashboard1, dashboard2]) await asyncApi(t, s)
  })

  await t.test('each dashboard instance gets every event, and the two audit instances split the audit\'s copy', async (t) => {
    const sent: string[] = []
    for (let i = 0; i < 10; i++) sent.push(await publish(publisher, `event.${i}`))

    for (const d of [dashboard1, dashboard2]) {
      const got = await waitFor(`${d.name} to have all 10 events`, async () => {
        const got = await ids(d)
        return got.length >= sent.length && got
      }, 15000, logs(d))
      t.same(got, sent, `${d.name} has every event, in order, once`)
    }

    const [a1, a2] = await waitFor('the audit instances to have 10 events between them', async () => {
      const both = [await ids(audit1), await ids(audit2)]
      return both[0].length + both[1].length >= sent.length && both
    }, 15000, logs(audit1, audit2))
    t.same([...a1, ...a2].sort(), [...sent].sort(), 'each event was recorded exactly once across the audit instances')
    t.ok(a1.length > 0 && a2.length > 0, `both audit instances took a share (${a1.length} + ${a2.length})`)

    for (const s of [audit1, audit2, dashboard1, dashboard2]) {
      t.notOk((await ids(s)).includes(unheard), `${s.name} never got the event published before it subscribed`)
    }
  })

  await t.test('events published while the audit service is down wait in its queue; a dashboard started later does not get them', async (t) => {
    t.same(await audit1.stop(), { code: 0, signal: null })
    t.same(await audit2.stop(), { code: 0, signal: null })

    const sent = [await publish(publisher, 'while.down.1'), await publish(publisher, 'while.down.2'), await publish(publisher, 'while.down.3')]
    await waitFor('the running dashboard to see them', async () => (await ids(dashboard1)).includes(sent[2]), 15000, logs(dashboard1))

    const audit3 = await service(t, EXAMPLE, 'audit.ts', env, 'audit-3')
    const dashboard3 = await service(t, EXAMPLE, 'dashboard.ts', env, 'dashboard-3')
    const recorded = await waitFor('the restarted audit service to record them', async () => {
      const got = await ids(audit3)
      return got.length >= sent.length && got
    }, 15000, logs(audit3))
    t.same(recorded, sent, 'the restarted audit service recorded what was sent while it was down')

    // Once dashboard 3 sees an event sent after it started, it has seen all it ever will of the earlier ones.
    const marker = await publish(publisher, 'after.restart')
    const seen = await waitFor('the new dashboard to see the next event', async () => {
      const got = await ids(dashboard3)
      return got.includes(marker) && got
    }, 15000, logs(dashboard3))
    t.same(seen, [marker], 'the new dashboard has only what was published after it started')

    t.same(await audit3.stop(), { code: 0, signal: null })
    t.same(await dashboard3.stop(), { code: 0, signal: null })
  })

  await t.test('the publisher rejects an event without a string type with 400', async (t) => {
    for (const body of [{}, { type: '' }, { type: { nested: true } }, { type: 'x', data: 'not an object' }]) {
      const { status, json } = await http('POST', publisher.base + '/events', body)
      t.equal(status, 400, JSON.stringify(body))
      t.equal(json.code, 'FST_ERR_VALIDATION')
    }
  })

  await t.test('every service exits with code 0 on SIGTERM', async (t) => {
    for (const s of [publisher, dashboard1, dashboard2]) t.same(await s.stop(), { code: 0, signal: null }, s.name)
  })
})

t.test('npm run example:publish-subscribe runs two instances of each subscriber and the publisher, and stops cleanly on Ctrl-C', async (t) => {
  const { banner, closed, output } = await launcher(t, EXAMPLE, await vhost(t))
  t.match(banner, /curl -X POST http:\/\/127\.0\.0\.1:\d+\/events/)
  t.match(banner, /curl http:\/\/127\.0\.0\.1:\d+\/events/)
  t.same(closed, ['audit-1', 'audit-2', 'dashboard-1', 'dashboard-2', 'publisher'], 'every service drained and closed its connection')
  t.notMatch(output, /exited \(/, 'no service died')
})
