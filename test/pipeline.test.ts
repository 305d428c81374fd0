import t from 'tap'
import { admin, build, collector, uniqueName, waitFor } from './helpers'
import type { WarrenMessage } from '../lib/index'

async function stages (t: any) {
  const exchange = uniqueName(t, 'x')
  const key = (name: string) => `${exchange}.${name}`
  const { ch, queues, exchanges, take } = await admin(t)
  exchanges.push(exchange)
  queues.push(key('a'), key('b'), key('c'))
  const app = await build(t, { exchange }, { ready: false })
  return { app, key, ch, take, exchange }
}

t.test('a consumer with next publishes its result to the next stage, carrying correlation id and headers forward', async (t) => {
  const { app, key } = await stages(t)
  const end = collector<WarrenMessage>(1)
  app.amqp.consume(key('a'), async (msg: WarrenMessage<any>) => ({ ...msg.body, a: true }), { next: key('b') })
  app.amqp.consume(key('b'), async (msg: WarrenMessage<any>) => ({ ...msg.body, b: true }), { next: key('c') })
  app.amqp.consume(key('c'), async (msg: WarrenMessage<any>) => { end.push(msg) })
  await app.ready()

  const { messageId } = await app.amqp.publish(key('a'), { id: 1 }, { headers: { tenant: 'acme' } })
  const [msg] = await end.done
  t.same(msg.body, { id: 1, a: true, b: true })
  t.equal(msg.properties.correlationId, messageId, 'the first message id follows it as the correlation id')
  t.equal(msg.headers.tenant, 'acme')
  t.equal(msg.routingKey, key('c'))
  t.equal(msg.properties.deliveryMode, 2, 'persistent between stages')
  t.not(msg.properties.messageId, messageId, 'each hop is a message of its own')
})

t.test('a correlation id set by the first publisher is kept through every stage', async (t) => {
  const { app, key } = await stages(t)
  const end = collector<WarrenMessage>(1)
  app.amqp.consume(key('a'), async (msg: WarrenMessage<any>) => msg.body + 1, { next: key('b') })
  app.amqp.consume(key('b'), async (msg: WarrenMessage<any>) => { end.push(msg) })
  await app.ready()
  await app.amqp.publish(key('a'), 1, { correlationId: 'order-42' })
  const [msg] = await end.done
  t.equal(msg.body, 2)
  t.equal(msg.properties.correlationId, 'order-42')
})

t.test('a stage whose handler returns undefined ends the message there', async (t) => {
  const { app, key } = await stages(t)
  const end = collector<unknown>(2)
  app.amqp.consume(key('a'), async (msg: WarrenMessage<any>) => (msg.body.keep ? msg.body : undefined), { next: key('b'), prefetch: 1 })
  app.amqp.consume(key('b'), async (msg: WarrenMessage<any>) => { end.push(msg.body) }, { prefetch: 1 })
  await app.ready()
  // Prefetch 1 on both stages keeps the order, so the list below is exact.
  await app.amqp.publish(key('a'), { n: 1, keep: false })
  await app.amqp.publish(key('a'), { n: 2, keep: true })
  await app.amqp.publish(key('a'), { n: 3, keep: true })
  t.same(await end.done, [{ n: 2, keep: true }, { n: 3, keep: true }])
})

t.test('next may name another exchange', async (t) => {
  const { app, key } = await stages(t)
  const other = uniqueName(t, 'other')
  const { queues, exchanges } = await admin(t)
  exchanges.push(other)
  queues.push(`${other}.q`)
  const end = collector<WarrenMessage>(1)
  app.amqp.consume('in', async (msg: WarrenMessage<any>) => msg.body * 10, { queue: key('a'), next: { exchange: other, routingKey: 'out' } })
  app.amqp.consume('out', async (msg: WarrenMessage<any>) => { end.push(msg) }, { exchange: other, exchangeType: 'direct', queue: `${other}.q` })
  await app.ready()
  await app.amqp.publish('in', 4)
  const [msg] = await end.done
  t.equal(msg.body, 40)
  t.equal(msg.exchange, other)
})

t.test('a result nobody can receive is not acked: the stage is tried again after its retry delay, then the message goes to the dead-letter queue', async (t) => {
  const { app, key, take } = await stages(t)
  const seen = collector<number>(2)
  app.amqp.consume(key('a'), async (msg: WarrenMessage<any>) => { seen.push(msg.attempt); return 'result' }, { next: key('nobody-binds-this'), retry: { attempts: 2, delay: 50 } })
  await app.ready()
  await app.amqp.publish(key('a'), 'x')
  t.same(await seen.done, [1, 2], 'the stage ran twice: the first try and one retry')
  const dead = await waitFor('the message in the dead-letter queue', () => take(`${key('a')}.dlq`))
  t.equal(dead.content.toString(), 'x', 'the original message, not the result, is kept')
  t.match(dead.properties.headers, { 'x-warren-reason': 'forward-failed', 'x-warren-attempts': 2, 'x-warren-error-message': /not routed/ })
})

t.test('consume() rejects a bad next with FST_AMQP_INVALID_ARGUMENT naming it', async (t) => {
  const app = await build(t)
  const h = async () => {}
  t.throws(() => app.amqp.consume('k', h, { next: 5 as any }), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /"options\.next"/ })
  t.throws(() => app.amqp.consume('k', h, { next: { exchange: 'e' } as any }), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /"options\.next\.routingKey"/ })
  t.throws(() => app.amqp.consume('k', h, { next: { routingKey: 'b', queue: 'q' } as any }), { code: 'FST_AMQP_INVALID_ARGUMENT', message: /"options\.next\.queue"/ })
})
