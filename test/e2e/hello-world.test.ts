import t from 'tap'
import { http, launcher, service, vhost, waitFor } from './examples'

/*
 * The hello-world example, run the way a user runs it: both services as real
 * processes, talking over HTTP and through the broker, in a virtual host of their own.
 */

t.test('the hello-world example', async (t) => {
  const env = { AMQP_URL: await vhost(t) }
  const service1 = await service(t, 'hello-world', 'service1.ts', env)

  await t.test('service 1 answers 502 FST_AMQP_UNROUTABLE while no service 2 has bound a queue', async (t) => {
    const { status, json } = await http('POST', service1.base + '/process', { text: 'nobody listens' })
    t.equal(status, 502)
    t.equal(json.code, 'FST_AMQP_UNROUTABLE')
  })

  const service2 = await service(t, 'hello-world', 'service2.ts', env)

  await t.test('a posted text is queued, then processed and listed by service 2', async (t) => {
    const { status, json } = await http('POST', service1.base + '/process', { text: 'hello  brave new world' })
    t.equal(status, 202)
    t.equal(json.queued, true)
    t.type(json.id, 'string')

    const item = await waitFor('the item to be processed', async () =>
      (await http('GET', `${service2.base}/processed?id=${json.id}`)).json[0], 15000, () => service2.output.join(''))
    t.equal(item.id, json.id)
    t.equal(item.text, 'hello  brave new world')
    t.equal(item.upper, 'HELLO  BRAVE NEW WORLD')
    t.equal(item.wordCount, 4)
    t.type(item.receivedAt, 'string')
    t.ok(!Number.isNaN(Date.parse(item.processedAt)), 'processedAt is an ISO timestamp')

    const all = await http('GET', service2.base + '/processed')
    t.ok(all.json.some((x: any) => x.id === json.id), 'GET /processed without an id lists it too')
  })

  await t.test('GET /processed?id= returns an empty list for an unknown id', async (t) => {
    const { status, json } = await http('GET', `${service2.base}/processed?id=no-such-id`)
    t.equal(status, 200)
    t.same(json, [])
  })

  await t.test('service 1 rejects a body without a string text with 400', async (t) => {
    // Not { text: 42 }: Fastify's Ajv coerces scalars, so that one is accepted as "42".
    for (const body of [{}, { txt: 'hello' }, { text: { nested: true } }]) {
      const { status, json } = await http('POST', service1.base + '/process', body)
      t.equal(status, 400, JSON.stringify(body))
      t.equal(json.code, 'FST_ERR_VALIDATION')
    }
  })

  await t.test('both services exit with code 0 on SIGTERM', async (t) => {
    for (const s of [service1, service2]) t.same(await s.stop(), { code: 0, signal: null }, s.name)
  })
})

t.test('npm start runs both services, prints the curl commands and stops cleanly on Ctrl-C', async (t) => {
  const { banner, closed, output } = await launcher(t, 'hello-world', await vhost(t))
  t.match(banner, /curl -X POST http:\/\/127\.0\.0\.1:\d+\/process/)
  t.match(banner, /curl http:\/\/127\.0\.0\.1:\d+\/processed/)
  t.same(closed, ['service1', 'service2'], 'both services drained and closed their connection')
  t.notMatch(output, /exited \(/, 'no service died')
})
