import t from 'tap'
import { asyncApi, deref, http, launcher, rawClient, service, vhost, waitFor } from './examples'

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

  await t.test('a malformed job from another client never reaches the handler: it is dead-lettered with reason invalid', async (t) => {
    const client = await rawClient(t, env.AMQP_URL)
    // text is not a string and receivedAt is missing: the processJob definition refuses it.
    await client.publish('process', { id: 'malformed-1', text: 42 }, { messageId: 'malformed-1' })
    const dead = await waitFor('the malformed job in process.dlq', () => client.take('process.dlq'), 15000, () => service2.output.join(''))
    t.equal(dead.properties.messageId, 'malformed-1')
    t.equal(dead.properties.headers?.['x-warren-reason'], 'invalid')
    t.equal(dead.properties.headers?.['x-warren-error-code'], 'FST_AMQP_INVALID_MESSAGE')
    t.same(JSON.parse(dead.content.toString()), { id: 'malformed-1', text: 42 }, 'the message is kept as it was sent')
    t.same((await http('GET', `${service2.base}/processed?id=malformed-1`)).json, [], 'service 2 never processed it')
  })

  await t.test('both services serve an AsyncAPI document without errors: service 1 sends the job, service 2 receives it', async (t) => {
    const payload = { type: 'object', properties: { id: { type: 'string' }, text: { type: 'string' }, receivedAt: { type: 'string', format: 'date-time' } }, required: ['id', 'text', 'receivedAt'] }

    const sender = await asyncApi(t, service1)
    const send = sender.operations['send.process']
    t.match(send, { action: 'send', bindings: { amqp: { deliveryMode: 2, mandatory: true } } }, 'service 1 sends the job, persistent and mandatory')
    t.match(deref(sender, send.channel), { address: 'process', bindings: { amqp: { is: 'routingKey', exchange: { name: 'warren', type: 'topic' } } } })
    t.match(deref(sender, send.messages[0]), { payload, summary: String }, 'with the payload of contracts.ts')
    t.same(Object.values(sender.operations).map((o: any) => o.action), ['send'], 'service 1 receives nothing')

    const receiver = await asyncApi(t, service2)
    const receives = Object.values(receiver.operations) as any[]
    t.same(receives.map((o) => o.action), ['receive'], 'service 2 has one operation, a receive')
    t.match(deref(receiver, receives[0].channel), { address: 'process', bindings: { amqp: { is: 'queue', queue: { name: 'process', durable: true } } } }, 'on its durable queue process')
    t.match(deref(receiver, receives[0].messages[0]), { payload }, 'the same payload')
    t.ok(Object.values(receiver.channels).some((c: any) => c.address === 'process.dlq'), 'its dead-letter queue is described')
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
