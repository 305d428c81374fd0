import t from 'tap'
import { asyncApi, deref, http, launcher, rawClient, service, vhost, waitFor, type Service } from './examples'

/*
 * The pipeline example as real processes in a virtual host of their own: the
 * entry, the stage file run three times (STAGE=A, B, C) and the logger,
 * observed over HTTP.
 */

const EXAMPLE = 'pipeline'
type TestLike = Parameters<typeof service>[0]

function stage (t: TestLike, env: Record<string, string>, name: 'A' | 'B' | 'C'): Promise<Service> {
  return service(t, EXAMPLE, 'stage.ts', { ...env, STAGE: name }, `stage-${name.toLowerCase()}`)
}

async function post (entry: Service, body: unknown): Promise<string> {
  const { status, json } = await http('POST', entry.base + '/messages', body)
  if (status !== 202) throw new Error(`POST /messages answered ${status}: ${JSON.stringify(json)}`)
  return json.id
}

/** The services' output for a failure message, without the request log lines of the polling. */
const logs = (...services: Service[]) => () => services.map((s) =>
  `--- ${s.name}\n${s.output.join('').split('\n').filter((l) => !/"msg":"(incoming request|request completed)"/.test(l)).join('\n')}`).join('\n')

t.test('the pipeline example', async (t) => {
  const env = { AMQP_URL: await vhost(t) }
  const entry = await service(t, EXAMPLE, 'entry.ts', env)

  await t.test('the entry answers 502 FST_AMQP_UNROUTABLE while stage A has never bound its queue', async (t) => {
    const { status, json } = await http('POST', entry.base + '/messages', { text: 'nobody listens' })
    t.equal(status, 502)
    t.equal(json.code, 'FST_AMQP_UNROUTABLE')
  })

  // From the end, as the launcher does: each stage's next queue exists before it publishes.
  const log = await service(t, EXAMPLE, 'logger.ts', env)
  const c = await stage(t, env, 'C')
  let b = await stage(t, env, 'B')
  const a = await stage(t, env, 'A')
  const all = () => logs(entry, a, b, c, log)()

  /** Waits for a message to reach the logger and resolves with its record. */
  const finished = (id: string, timeout = 15000) => waitFor(`message ${id} at the logger`, async () => {
    const { status, json } = await http('GET', `${log.base}/messages/${id}`)
    return status === 200 && json
  }, timeout, all)

  /** The history's stage names, checking that its timestamps never go back. */
  const stages = (t: { ok: (value: unknown, message: string) => unknown }, record: any): string[] => {
    const times = record.history.map((h: { at: string }) => Date.parse(h.at))
    t.ok(times.every((time: number, i: number) => !Number.isNaN(time) && (i === 0 || time >= times[i - 1])), `${record.id}: timestamps never go back`)
    return record.history.map((h: { stage: string }) => h.stage)
  }

  await t.test('a posted message reaches the logger with the contributions of A, B and C, in order, under the same correlation id', async (t) => {
    const id = await post(entry, { text: '  Hello   brave NEW world ' })
    const record = await finished(id)
    t.equal(record.id, id)
    t.equal(record.correlationId, id, 'the correlation id set by the entry came through every stage')
    t.equal(record.text, '  Hello   brave NEW world ')
    t.equal(record.clean, 'hello brave new world', 'A cleaned the text')
    t.same(record.words, ['hello', 'brave', 'new', 'world'], 'B split the clean text')
    t.equal(record.wordCount, 4, 'C counted the words')
    t.same(stages(t, record), ['entry', 'A', 'B', 'C', 'logger'])
    t.same(record.history.filter((h: any) => 'redelivered' in h).map((h: any) => h.redelivered), [false, false, false], 'no stage saw it twice')

    const { status, json } = await http('GET', `${log.base}/messages/no-such-id`)
    t.equal(status, 404, 'an id that has not finished is 404')
    t.equal(json.finished, false)
  })

  await t.test('every service serves an AsyncAPI document without errors: each receives its queue\'s message and sends the next one', async (t) => {
    const payload = {
      type: 'object',
      properties: {
        id: { type: 'string' },
        text: { type: 'string' },
        delays: { type: 'object', properties: { A: { type: 'integer' }, B: { type: 'integer' }, C: { type: 'integer' } } },
        clean: { type: 'string' },
        words: { type: 'array', items: { type: 'string' } },
        wordCount: { type: 'integer' },
        history: { type: 'array', items: { type: 'object', properties: { stage: { enum: ['entry', 'A', 'B', 'C', 'logger'] }, at: { type: 'string' }, redelivered: { type: 'boolean' } }, required: ['stage', 'at'] } }
      },
      required: ['id', 'text', 'delays', 'history']
    }
    // Each service: the queue it receives from (if any) and the routing key it sends to (if any).
    const expected: Array<[Service, string | null, string | null]> = [
      [entry, null, 'pipeline.a'],
      [a, 'pipeline.a', 'pipeline.b'],
      [b, 'pipeline.b', 'pipeline.c'],
      [c, 'pipeline.c', 'pipeline.done'],
      [log, 'pipeline.done', null]
    ]
    for (const [s, from, to] of expected) {
      const doc = await asyncApi(t, s)
      const ops = Object.values(doc.operations) as any[]
      const receive = ops.find((o) => o.action === 'receive')
      const send = ops.find((o) => o.action === 'send')
      t.equal(ops.length, (from ? 1 : 0) + (to ? 1 : 0), `${s.name}: ${[from && `receive ${from}`, to && `send ${to}`].filter(Boolean).join(', ')}`)
      if (from) {
        t.match(deref(doc, receive.channel), { address: from, bindings: { amqp: { is: 'queue', queue: { name: from, durable: true } } } }, `${s.name} receives from the queue ${from}`)
        t.match(deref(doc, receive.messages[0]), { name: from, payload }, `${s.name}: the message it receives, from the JSON Schema`)
      }
      if (to) {
        t.match(send, { bindings: { amqp: { deliveryMode: 2, mandatory: true } } })
        t.match(deref(doc, send.channel), { address: to, bindings: { amqp: { is: 'routingKey', exchange: { name: 'warren' } } } }, `${s.name} sends to ${to}`)
        t.match(deref(doc, send.messages[0]), { name: to, payload }, `${s.name}: the message it sends`)
      }
    }
  })

  await t.test('a message that does not fit the pipeline\'s schema never reaches a stage\'s handler: it is dead-lettered with reason invalid', async (t) => {
    const client = await rawClient(t, env.AMQP_URL)
    // No history, and text is not a string.
    await client.publish('pipeline.b', { id: 'bad-1', text: 7, delays: {} }, { messageId: 'bad-1' })
    const dead = await waitFor('the invalid message in pipeline.b.dlq', () => client.take('pipeline.b.dlq'), 15000, all)
    t.equal(dead.properties.messageId, 'bad-1')
    t.equal(dead.properties.headers?.['x-warren-reason'], 'invalid')
    t.equal(dead.properties.headers?.['x-warren-error-code'], 'FST_AMQP_INVALID_MESSAGE')
    t.notOk(b.output.join('').includes('"id":"bad-1"'), 'stage B never logged it as done')
    t.equal((await http('GET', `${log.base}/messages/bad-1`)).status, 404, 'it went no further')
  })

  await t.test('a message slow at B is overtaken by the one posted after it, while each still goes A → B → C', async (t) => {
    // The first spends 2.5 s at B, the second no time anywhere: with prefetch
    // 10, B works on both at once and the second is through the whole
    // pipeline in a few milliseconds, long before the first leaves B.
    const slow = await post(entry, { text: 'slow one', delays: { B: 2500 } })
    const fast = await post(entry, { text: 'fast one' })
    const [slowRecord, fastRecord] = [await finished(slow), await finished(fast)]

    const order = (await http('GET', log.base + '/messages')).json.map((m: { id: string }) => m.id)
    t.ok(order.indexOf(fast) < order.indexOf(slow), 'the logger got the second message first')
    for (const record of [slowRecord, fastRecord]) t.same(stages(t, record), ['entry', 'A', 'B', 'C', 'logger'], `${record.text}: A → B → C`)
    const at = (record: any, stage: string) => Date.parse(record.history.find((h: any) => h.stage === stage).at)
    t.ok(at(slowRecord, 'A') <= at(fastRecord, 'A'), 'A passed them on in the order they came')
    t.ok(at(fastRecord, 'B') < at(slowRecord, 'B'), 'B finished the second one first')
    t.ok(at(slowRecord, 'B') - at(slowRecord, 'A') >= 2400, 'the slow one spent its delay at B')
  })

  await t.test('a stage killed with SIGKILL in the middle of a message loses nothing: the message finishes once the stage is restarted', async (t) => {
    const id = await post(entry, { text: 'survives a crash', delays: { B: 2500 } })
    await waitFor('stage B to be working on the message', async () =>
      (await http('GET', b.base + '/working')).json.includes(id), 15000, all)
    await b.kill()
    // Posted while B is down: A still does its part, and the result waits in pipeline.b.
    const waiting = await post(entry, { text: 'posted while B is down' })
    await waitFor('stage A to have passed the second message on', async () =>
      a.output.join('').includes(`"id":"${waiting}"`), 15000, all)
    t.equal((await http('GET', `${log.base}/messages/${id}`)).status, 404, 'nothing reached the logger without B')

    b = await stage(t, env, 'B')
    const record = await finished(id)
    t.same(stages(t, record), ['entry', 'A', 'B', 'C', 'logger'], 'A was not repeated, and B ran once more')
    t.equal(record.history[2].redelivered, true, 'B got it as a redelivery')
    t.equal(record.wordCount, 3)
    t.same(stages(t, await finished(waiting)), ['entry', 'A', 'B', 'C', 'logger'], 'the message posted while B was down finished too')
  })

  await t.test('the entry rejects a body without a string text or with bad delays with 400', async (t) => {
    // Not { delays: { D: 10 } }: Fastify's Ajv removes properties the schema does not allow, so that one is accepted without D.
    for (const body of [{}, { text: { nested: true } }, { text: 'x', delays: { B: -1 } }, { text: 'x', delays: { A: 1.5 } }, { text: 'x', delays: { C: 60001 } }]) {
      const { status, json } = await http('POST', entry.base + '/messages', body)
      t.equal(status, 400, JSON.stringify(body))
      t.equal(json.code, 'FST_ERR_VALIDATION')
    }
  })

  await t.test('every service exits with code 0 on SIGTERM', async (t) => {
    for (const s of [entry, a, b, c, log]) t.same(await s.stop(), { code: 0, signal: null }, s.name)
  })
})

t.test('npm run example:pipeline runs the logger, the three stages and the entry, prints the curl commands and stops cleanly on Ctrl-C', async (t) => {
  const { banner, closed, output } = await launcher(t, EXAMPLE, await vhost(t))
  t.match(banner, /curl -X POST http:\/\/127\.0\.0\.1:\d+\/messages/)
  t.match(banner, /curl http:\/\/127\.0\.0\.1:\d+\/messages/)
  t.same(closed, ['entry', 'logger', 'stage-a', 'stage-b', 'stage-c'], 'every service drained and closed its connection')
  t.notMatch(output, /exited \(/, 'no service died')
})
