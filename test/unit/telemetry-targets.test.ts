import t from 'tap'
import { destinationName, Targets } from '../../lib/telemetry/targets'

const COMMON = Object.freeze({ 'messaging.system': 'rabbitmq', 'server.address': 'broker', 'server.port': 5672 })

t.test('a destination has the span name and attributes of the conventions, with the queue on the consuming side', async (t) => {
  const targets = new Targets(COMMON)
  const sent = targets.get('publish', 'send', 'shop', 'orders.created')
  t.equal(sent.spanName, 'publish shop:orders.created')
  t.same(sent.attributes, {
    ...COMMON,
    'messaging.operation.name': 'publish',
    'messaging.operation.type': 'send',
    'messaging.destination.name': 'shop:orders.created',
    'messaging.rabbitmq.destination.routing_key': 'orders.created'
  })
  t.notOk('messaging.rabbitmq.destination.routing_key' in sent.metric, 'the routing key is no metric attribute: it may hold ids')
  const processed = targets.get('process', 'process', 'shop', 'orders.created', 'billing')
  t.equal(processed.spanName, 'process shop:orders.created:billing')
  t.equal(targets.get('process', 'process', 'shop', 'jobs', 'jobs').spanName, 'process shop:jobs', 'a queue named as its routing key is said once')
  t.equal(destinationName('', 'jobs', ''), 'jobs', 'an empty part (the default exchange) is left out')
  t.equal(destinationName('', '', ''), 'amq.default', 'all empty: the default exchange by its name')
})

t.test('the same destination gives the same attributes, and names that run together stay apart', async (t) => {
  const targets = new Targets(COMMON)
  t.equal(targets.get('publish', 'send', 'a', 'bc'), targets.get('publish', 'send', 'a', 'bc'))
  t.not(targets.get('publish', 'send', 'a', 'bc'), targets.get('publish', 'send', 'ab', 'c'))
  t.not(targets.get('process', 'process', 'a', 'b', 'q'), targets.get('process', 'process', 'a', 'b', 'r'))
  t.not(targets.get('publish', 'send', 'a', 'b'), targets.get('request', 'send', 'a', 'b'))
})

t.test('routing keys that never repeat do not grow the cache without bound, and every answer stays right', async (t) => {
  const targets = new Targets(COMMON)
  for (let i = 0; i < 5000; i++) {
    const target = targets.get('publish', 'send', 'shop', `order.${i}`)
    if (target.spanName !== `publish shop:order.${i}`) t.fail(`wrong target for order.${i}: ${target.spanName}`)
  }
  const size = (targets as unknown as { size: number }).size
  t.ok(size <= 1000, `at most 1000 destinations held (${size})`)
})
