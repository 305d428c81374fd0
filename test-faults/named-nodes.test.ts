import t from 'tap'
import Fastify from 'fastify'
import warren, { type WarrenMessage } from '../lib/index'
import { collector, waitFor } from '../test/helpers'
import { canStartNodes, startNode, type RabbitNode } from './helpers/nodes'

/*
 * Two registrations on two RabbitMQ nodes of the test's own: the default one
 * (app.amqp) on one, `events` (app.amqp.events) on the other. Each talks to
 * its own node only, and losing one node leaves the other registration
 * working. Typing of app.amqp.events is in test/types/named.tst.ts.
 */

declare module '../lib/index' {
  interface AmqpRegistrations { events: true }
}

t.setTimeout(300_000)

const skip = !canStartNodes() && 'RabbitMQ\'s scripts (/usr/lib/rabbitmq/bin) are not on this machine: no nodes of the test\'s own'

/** The connection names a node lists. */
async function connectionNames (node: RabbitNode): Promise<string[]> {
  const out = await node.ctl(['list_connections', '--no-table-headers', 'client_properties'])
  return [...out.matchAll(/connection_name","([^"]+)"/g)].map((m) => m[1])
}

t.test('two named registrations talk to two nodes, each only to its own, and one node dying leaves the other working', { skip }, async (t) => {
  const [orders, events] = await Promise.all([startNode(t, { name: 'orders' }), startNode(t, { name: 'events' })])
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(warren, { url: orders.url, connectTimeout: 3000, reconnectDelay: 100, closeTimeout: 2000 })
  await app.register(warren, { url: events.url, name: 'events', connectTimeout: 3000, reconnectDelay: 100, closeTimeout: 2000 })
  const gotOrders = collector<WarrenMessage>(2)
  const gotEvents = collector<WarrenMessage>(1)
  app.amqp.consume('orders.placed', async (msg) => { gotOrders.push(msg) })
  app.amqp.events.consume('user.signed-up', async (msg) => { gotEvents.push(msg) })
  await app.ready()

  t.same((await connectionNames(orders)).sort(), ['fastify-warren', 'fastify-warren (consumers)'], 'the default registration\'s two connections are on its node')
  t.same((await connectionNames(events)).sort(), ['fastify-warren:events', 'fastify-warren:events (consumers)'], 'the named one\'s are on the other')

  await app.amqp.publish('orders.placed', { id: 1 })
  await app.amqp.events.publish('user.signed-up', { user: 'ada' })
  t.same((await gotEvents.done).map((m) => m.body), [{ user: 'ada' }])
  // The routing key exists on one node only: publishing it on the other is unroutable there.
  await t.rejects(app.amqp.events.publish('orders.placed', { id: 2 }), { code: 'FST_AMQP_UNROUTABLE' }, 'the events node has no orders queue')

  await events.kill()
  await waitFor('the events registration to say down', () => app.amqp.events.health().status === 'down')
  t.equal(app.amqp.health().status, 'ok', 'the default registration is unaffected')
  await app.amqp.publish('orders.placed', { id: 3 })
  t.same((await gotOrders.done).map((m) => m.body), [{ id: 1 }, { id: 3 }], 'and goes on publishing and consuming')

  // close() resolves although one registration's broker is gone (a hang would fail on the file's timeout).
  await app.close()
  t.same(await connectionNames(orders), [], 'the default registration\'s connections are closed')
})
