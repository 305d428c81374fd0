import t from 'tap'
import { memoryBroker } from 'fastify-warren/testing'
import { buildService1 } from '../../../examples/hello-world/service1'
import { buildService2 } from '../../../examples/hello-world/service2'

/*
 * The hello world's two services as two apps in one process, on one memory
 * broker: the flow of test/e2e/hello-world.test.ts, with no RabbitMQ. Run by
 * test/e2e/hello-world-memory.test.ts under `node --import tsx`, which
 * resolves `fastify-warren` to lib/ as the examples do when users run them.
 */

t.test('the hello world on memory://: a POST to service 1 is processed by service 2, and a malformed job is dead-lettered', async (t) => {
  const broker = memoryBroker('hello')
  t.teardown(() => broker.reset())
  const service1 = await buildService1(broker.url, { logger: false })
  t.teardown(() => service1.close())
  await service1.ready()

  const nobody = await service1.inject({ method: 'POST', url: '/process', payload: { text: 'nobody listens' } })
  t.equal(nobody.statusCode, 502)
  t.equal(nobody.json().code, 'FST_AMQP_UNROUTABLE', 'no service 2 yet: the publish is unroutable')

  const service2 = await buildService2(broker.url, { logger: false })
  t.teardown(() => service2.close())
  await service2.ready()

  const posted = await service1.inject({ method: 'POST', url: '/process', payload: { text: 'hello  brave new world' } })
  t.equal(posted.statusCode, 202)
  const { id } = posted.json()
  await broker.settled()
  const [item] = (await service2.inject(`/processed?id=${id}`)).json()
  t.match(item, { id, text: 'hello  brave new world', upper: 'HELLO  BRAVE NEW WORLD', wordCount: 4 })

  await broker.publish('warren', 'process', { id: 'malformed-1', text: 42 }, { messageId: 'malformed-1' })
  await broker.settled()
  t.match(broker.messages('process.dlq'), [{ body: { id: 'malformed-1', text: 42 }, headers: { 'x-warren-reason': 'invalid', 'x-warren-error-code': 'FST_AMQP_INVALID_MESSAGE' } }])
  t.same((await service2.inject('/processed?id=malformed-1')).json(), [], 'service 2 never processed it')
})
