import t from 'tap'
import Fastify from 'fastify'
import warren from '../../lib/index'
import { normalizeOptions, ASYNCAPI_UI, DEFAULTS, RESERVED_NAMES, redactUrl } from '../../lib/core/options'
import { facadeOf, unregisteredFacade } from '../../lib/facade'
import { ready } from '../helpers'

const url = 'amqp://guest:guest@127.0.0.1:5672'

t.test('normalizeOptions fills every default', async (t) => {
  t.same(normalizeOptions({ url }), {
    urls: [url],
    tls: undefined,
    auth: 'plain',
    ...DEFAULTS,
    exchanges: { warren: 'topic' },
    publishes: [],
    asyncapi: { serve: false, path: '/asyncapi', title: 'fastify-warren', version: '1.0.0', description: undefined, ...ASYNCAPI_UI },
    healthRoute: undefined,
    name: undefined
  })
  t.same(DEFAULTS.exchange, 'warren')
  t.equal(normalizeOptions({ url }).coalesceWrites, true)
})

t.test('normalizeOptions accepts a list of URLs and every option in range', async (t) => {
  const o = normalizeOptions({
    url: [url, 'amqps://u:p@broker.example:5671/vh'],
    exchange: 'app',
    prefetch: 1,
    connectionName: 'orders-api',
    heartbeat: 0,
    connectTimeout: 1,
    reconnectDelay: 10,
    publishTimeout: 1,
    closeTimeout: 0,
    coalesceWrites: false
  })
  t.same(o.urls.length, 2)
  t.equal(o.exchange, 'app')
  t.equal(o.prefetch, 1)
  t.equal(o.heartbeat, 0)
  t.equal(o.closeTimeout, 0)
  t.equal(o.coalesceWrites, false)
})

const bad: Array<[string, unknown, string]> = [
  ['options that are not an object', 'amqp://x', 'options'],
  ['options that are null', null, 'options'],
  ['a missing url', {}, 'url'],
  ['a url that is a number', { url: 5672 }, 'url'],
  ['an empty url', { url: '' }, 'url'],
  ['an empty list of urls', { url: [] }, 'url'],
  ['a bad url inside a list', { url: [url, 'nope'] }, 'url[1]'],
  ['a malformed url', { url: 'amqp://guest:s3cret@' }, 'url'],
  ['a url with the http scheme', { url: 'http://127.0.0.1:5672' }, 'url'],
  ['an empty exchange name', { url, exchange: '' }, 'exchange'],
  ['an exchange name over 255 bytes', { url, exchange: 'x'.repeat(256) }, 'exchange'],
  ['a prefetch of zero', { url, prefetch: 0 }, 'prefetch'],
  ['a fractional prefetch', { url, prefetch: 1.5 }, 'prefetch'],
  ['a prefetch as a string', { url, prefetch: '10' }, 'prefetch'],
  ['a prefetch over 65535', { url, prefetch: 65536 }, 'prefetch'],
  ['a connection name that is not a string', { url, connectionName: 42 }, 'connectionName'],
  ['a negative heartbeat', { url, heartbeat: -1 }, 'heartbeat'],
  ['a zero connect timeout', { url, connectTimeout: 0 }, 'connectTimeout'],
  ['a connect timeout that is NaN', { url, connectTimeout: NaN }, 'connectTimeout'],
  ['a reconnect delay under 10 ms', { url, reconnectDelay: 1 }, 'reconnectDelay'],
  ['a zero publish timeout', { url, publishTimeout: 0 }, 'publishTimeout'],
  ['a negative close timeout', { url, closeTimeout: -5 }, 'closeTimeout'],
  ['coalesceWrites as a string', { url, coalesceWrites: 'false' }, 'coalesceWrites'],
  ['coalesceWrites as a number', { url, coalesceWrites: 0 }, 'coalesceWrites'],
  ['exchanges given as a list', { url, exchanges: ['logs'] }, 'exchanges'],
  ['an exchange of an unknown type', { url, exchanges: { logs: 'broadcast' } }, 'exchanges["logs"]'],
  ['an exchange with an empty name', { url, exchanges: { '': 'fanout' } }, 'exchanges[""]'],
  ['an exchange in the reserved amq. namespace', { url, exchanges: { 'amq.fanout': 'fanout' } }, 'exchanges["amq.fanout"]'],
  ['the plugin\'s own exchange as anything but topic', { url, exchange: 'app', exchanges: { app: 'direct' } }, 'exchanges["app"]'],
  ['a health route that is no path', { url, healthRoute: 'health' }, 'healthRoute'],
  ['a health route with a query string', { url, healthRoute: '/health?x=1' }, 'healthRoute'],
  ['a health route that is not a string', { url, healthRoute: true }, 'healthRoute'],
  ['a memory URL with a path', { url: 'memory://shop/orders' }, 'url'],
  ['a memory URL with credentials', { url: 'memory://guest:guest@shop' }, 'url'],
  ['a memory URL in a list with a network one', { url: ['memory://shop', url] }, 'url'],
  ['a misspelt option', { url, prefech: 5 }, 'prefech'],
  ['an empty name', { url, name: '' }, 'name'],
  ['a name that is not a string', { url, name: 1 }, 'name'],
  ['a name that starts with a digit', { url, name: '2nd' }, 'name'],
  ['a name with a dash', { url, name: 'event-bus' }, 'name'],
  ['a name with a dot', { url, name: 'events.eu' }, 'name'],
  ['a name over 240 characters', { url, name: 'n'.repeat(241) }, 'name'],
  ['the name of a method of app.amqp', { url, name: 'publish' }, 'name'],
  ['the name "consume"', { url, name: 'consume' }, 'name'],
  ['the name "asyncapi"', { url, name: 'asyncapi' }, 'name'],
  ['the name "then", which would make app.amqp a thenable', { url, name: 'then' }, 'name'],
  ['the name "constructor"', { url, name: 'constructor' }, 'name'],
  ['the name "__proto__"', { url, name: '__proto__' }, 'name'],
  ['the name "toString"', { url, name: 'toString' }, 'name']
]

for (const [what, options, field] of bad) {
  t.test(`normalizeOptions rejects ${what} with FST_AMQP_INVALID_OPTION naming "${field}"`, async (t) => {
    t.throws(() => normalizeOptions(options), { code: 'FST_AMQP_INVALID_OPTION', message: new RegExp(`"${field.replace(/[[\]]/g, '\\$&')}"`) })
  })
}

t.test('normalizeOptions accepts memory:// (a private broker) and memory://<name> (shared by name)', async (t) => {
  t.same(normalizeOptions({ url: 'memory://' }).urls, ['memory://'])
  t.same(normalizeOptions({ url: 'memory://shop' }).urls, ['memory://shop'])
})

t.test('normalizeOptions accepts a name that is an identifier, and names its connections after it by default', async (t) => {
  for (const name of ['events', 'Events2', '_audit', '$bus', 'n'.repeat(240)]) t.equal(normalizeOptions({ url, name }).name, name)
  t.equal(normalizeOptions({ url }).name, undefined)
  t.equal(normalizeOptions({ url, name: 'events' }).connectionName, 'fastify-warren:events')
  t.equal(normalizeOptions({ url, name: 'events' }).asyncapi.title, 'fastify-warren:events')
  t.equal(normalizeOptions({ url, name: 'events', connectionName: 'billing-events' }).connectionName, 'billing-events')
})

t.test('every member of app.amqp, with or without a default registration, is a name a registration may not take', async (t) => {
  const members = [
    ...Object.keys(facadeOf({} as any, undefined, {})),
    ...Object.keys(unregisteredFacade([]))
  ]
  t.ok(members.length > 0)
  for (const m of members) t.ok(RESERVED_NAMES.has(m), m)
})

t.test('an invalid URL error never contains the password', async (t) => {
  try {
    normalizeOptions({ url: 'amqp://guest:s3cret@' })
    t.fail('should throw')
  } catch (err) {
    t.notMatch((err as Error).message, /s3cret/)
  }
  t.equal(redactUrl('amqp://guest:s3cret@host:5672/vh'), 'amqp://guest:***@host:5672/vh')
})

t.test('registering with a bad option makes ready() reject before any connection is tried', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.register(warren, { url, prefetch: -1 } as any)
  await t.rejects(ready(app), { code: 'FST_AMQP_INVALID_OPTION', message: /prefetch/ })
})
