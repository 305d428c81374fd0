import t from 'tap'
import diagnostics from 'node:diagnostics_channel'
import { metrics, SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api'
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core'
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type DataPoint } from '@opentelemetry/sdk-metrics'
import FastifyOtelInstrumentation from '@fastify/otel'
import Fastify from 'fastify'
import warren, { type WarrenMessage } from '../lib/index'
import { admin, AMQP_URL, appWithLog, build, collector, deleteExchange, uniqueName, waitFor } from './helpers'

/*
 * Traces and metrics through the OpenTelemetry SDK's in-memory exporters, a
 * W3C propagator (trace context and baggage), and @fastify/otel for the HTTP
 * spans. One SDK for the whole file (a process of its own under tap).
 */

const spans = new InMemorySpanExporter()
const tracerProvider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
tracerProvider.register({ propagator: new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }) })
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))
t.teardown(async () => {
  await tracerProvider.shutdown()
})

const finished = (): ReadableSpan[] => spans.getFinishedSpans()
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId
const byId = (id: string | undefined): ReadableSpan | undefined => finished().find((s) => s.spanContext().spanId === id)
/** Whether `ancestor` is above `span` in its trace. */
function isAncestor (ancestor: ReadableSpan, span: ReadableSpan): boolean {
  for (let p = byId(parentOf(span)); p !== undefined; p = byId(parentOf(p))) if (p === ancestor) return true
  return false
}
/** The spans whose name starts with `prefix` and mentions `key`. */
const named = (prefix: string, key: string): ReadableSpan[] => finished().filter((s) => s.name.startsWith(prefix) && s.name.includes(key))
/** The process spans of the queue `queue` consumed by its own name. */
const processing = (queue: string): ReadableSpan[] => finished().filter((s) => s.name.startsWith('process ') && s.name.endsWith(`:${queue}`))

t.test('an HTTP request that publishes, consumed by a second app that publishes on: one trace from the HTTP server span to the last process span, with the conventions\' attributes', async (t) => {
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const { queues, exchanges } = await admin(t)
  queues.push(key, `${key}.audit`)
  exchanges.push(exchange)
  const otel = new FastifyOtelInstrumentation()
  const web = Fastify()
  t.teardown(() => web.close())
  await web.register(otel.plugin())
  await web.register(warren, { url: AMQP_URL, exchange, connectionName: 'web' })
  web.post('/orders', async (req) => web.amqp.publish(key, req.body, { correlationId: 'order-7' }))
  const worker = await build(t, { exchange, connectionName: 'worker' }, { ready: false })
  const audited = collector<string>(1)
  worker.amqp.consume(key, async (msg: WarrenMessage<any>) => { await worker.amqp.publish(`${key}.audit`, { id: msg.body.id }) })
  worker.amqp.consume(`${key}.audit`, async () => { audited.push('audited') })
  await worker.ready()
  await web.ready()

  const res = await web.inject({ method: 'POST', url: '/orders', payload: { id: 7 } })
  t.equal(res.statusCode, 200)
  await audited.done
  const [publish] = await waitFor('the publish span', () => { const s = named('publish', `${exchange}:${key}`).filter((s) => !s.name.includes('audit')); return s.length > 0 && s })
  const [processed] = await waitFor('the process span', () => { const s = finished().filter((s) => s.name === `process ${exchange}:${key}`); return s.length > 0 && s })
  const [republish] = await waitFor('the second publish span', () => { const s = named('publish', `${key}.audit`); return s.length > 0 && s })
  const [last] = await waitFor('the last process span', () => { const s = finished().filter((s) => s.name === `process ${exchange}:${key}.audit`); return s.length > 0 && s })
  const http = finished().find((s) => s.spanContext().traceId === publish.spanContext().traceId && s.kind === SpanKind.SERVER) ??
    finished().find((s) => s.spanContext().traceId === publish.spanContext().traceId && s.instrumentationScope.name.includes('fastify'))

  t.ok(http, 'the HTTP request has a span in the same trace')
  t.ok(http !== undefined && isAncestor(http, publish), 'the HTTP span is an ancestor of the publish span')
  t.equal(parentOf(processed), publish.spanContext().spanId, 'the process span\'s parent is the publish span')
  t.equal(parentOf(republish), processed.spanContext().spanId, 'a publish inside the handler is a child of its process span')
  t.equal(parentOf(last), republish.spanContext().spanId, 'and the next process span continues from it')
  t.equal(new Set([publish, processed, republish, last].map((s) => s.spanContext().traceId)).size, 1, 'one trace')

  t.equal(publish.kind, SpanKind.PRODUCER)
  t.equal(publish.name, `publish ${exchange}:${key}`)
  t.match(publish.attributes, {
    'messaging.system': 'rabbitmq',
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'publish',
    'messaging.destination.name': `${exchange}:${key}`,
    'messaging.rabbitmq.destination.routing_key': key,
    'messaging.message.id': String,
    'messaging.message.conversation_id': 'order-7',
    'messaging.message.body.size': 8,
    'server.address': '127.0.0.1',
    'server.port': 5672
  })
  t.equal(processed.kind, SpanKind.CONSUMER)
  t.equal(processed.name, `process ${exchange}:${key}`, 'the queue, named as the routing key, is said once')
  t.match(processed.attributes, {
    'messaging.system': 'rabbitmq',
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    'messaging.destination.name': `${exchange}:${key}`,
    'messaging.rabbitmq.destination.routing_key': key,
    'messaging.message.id': publish.attributes['messaging.message.id'],
    'messaging.message.conversation_id': 'order-7',
    'fastify_warren.outcome': 'ack'
  })
})

t.test('request/reply: the request is a CLIENT span, the server\'s process span is its child, and the reply is an event of it', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => msg.body.n + 1)
  await app.ready()
  t.equal(await app.amqp.request(key, { n: 1 }), 2)
  const [client] = await waitFor('the request span', () => { const s = named('request', key); return s.length > 0 && s })
  const [server] = await waitFor('the process span', () => { const s = named('process', key); return s.length > 0 && s })
  t.equal(client.kind, SpanKind.CLIENT)
  t.match(client.attributes, { 'messaging.operation.name': 'request', 'messaging.message.conversation_id': String })
  t.equal(parentOf(server), client.spanContext().spanId)
  t.equal(server.attributes['messaging.message.conversation_id'], client.attributes['messaging.message.conversation_id'])
  t.ok(server.events.some((e) => e.name === 'reply sent'), 'the reply is an event of the process span')
  t.equal(server.attributes['fastify_warren.outcome'], 'reply')
})

t.test('gather: one CLIENT span, each service\'s process span its child, and each reply an event of it', async (t) => {
  const key = uniqueName(t)
  const exchange = uniqueName(t, 'x')
  const { queues, exchanges } = await admin(t)
  queues.push(`${key}.a`, `${key}.b`)
  exchanges.push(exchange)
  const a = await build(t, { exchange, connectionName: 'a' }, { ready: false })
  const b = await build(t, { exchange, connectionName: 'b' }, { ready: false })
  a.amqp.consume(key, async () => 'a', { queue: `${key}.a` })
  b.amqp.consume(key, async () => 'b', { queue: `${key}.b` })
  await Promise.all([a.ready(), b.ready()])
  const result = await a.amqp.gather(key, {}, { expect: ['a', 'b'] })
  t.equal(result.complete, true)
  const [client] = await waitFor('the gather span', () => { const s = named('gather', key); return s.length > 0 && s })
  const servers = await waitFor('both process spans', () => { const s = named('process', key); return s.length === 2 && s })
  t.equal(client.kind, SpanKind.CLIENT)
  for (const s of servers) t.equal(parentOf(s), client.spanContext().spanId)
  const heard = client.events.filter((e) => e.name === 'reply received').map((e) => e.attributes?.['fastify_warren.reply_from'])
  t.same(heard.sort(), ['a', 'b'], 'each reply is an event of the gather span, naming who sent it')
})

t.test('a three-stage pipeline is one trace: each stage\'s forward is a child of its process span, and the next process span a child of that', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(`${key}.a`, `${key}.b`, `${key}.c`)
  const app = await build(t, {}, { ready: false })
  const done = collector<number>(1)
  app.amqp.consume(`${key}.a`, async (msg: WarrenMessage<any>) => msg.body + 1, { next: `${key}.b` })
  app.amqp.consume(`${key}.b`, async (msg: WarrenMessage<any>) => msg.body + 1, { next: `${key}.c` })
  app.amqp.consume(`${key}.c`, async (msg: WarrenMessage<any>) => { done.push(msg.body) })
  await app.ready()
  await app.amqp.publish(`${key}.a`, 1)
  t.same(await done.done, [3])
  const chain = await waitFor('every span of the pipeline', () => {
    const want = [named('publish', `${key}.a`), processing(`${key}.a`), named('publish', `${key}.b`), processing(`${key}.b`), named('publish', `${key}.c`), processing(`${key}.c`)]
    return want.every((s) => s.length === 1) && want.map((s) => s[0])
  })
  for (let i = 1; i < chain.length; i++) t.equal(parentOf(chain[i]), chain[i - 1].spanContext().spanId, `${chain[i].name} is a child of ${chain[i - 1].name}`)
  t.equal(chain[2].attributes['messaging.message.conversation_id'], chain[0].attributes['messaging.message.id'], 'the forward carries the first message id as its correlation id')
})

t.test('a message retried twice and then dead-lettered shows three process spans in one trace, with the retries and the dead-lettering as events', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  app.amqp.consume(key, async () => { throw Object.assign(new Error('no'), { code: 'E_NO' }) }, { retry: { attempts: 3, delay: 20, jitter: 0 } })
  await app.ready()
  await app.amqp.publish(key, { n: 1 })
  const processed = await waitFor('three process spans', () => { const s = named('process', key); return s.length === 3 && s }, 15000)
  const [publish] = named('publish', key)
  t.equal(new Set([publish, ...processed].map((s) => s.spanContext().traceId)).size, 1, 'one trace')
  const sorted = [...processed].sort((x, y) => Number(x.attributes['fastify_warren.attempt'] ?? 1) - Number(y.attributes['fastify_warren.attempt'] ?? 1))
  t.same(sorted.map((s) => s.attributes['fastify_warren.outcome']), ['retry', 'retry', 'dead-letter'])
  t.same(sorted.map((s) => s.attributes['fastify_warren.attempt'] ?? 1), [1, 2, 3])
  t.ok(sorted[0].events.some((e) => e.name === 'retry scheduled'))
  t.ok(sorted[2].events.some((e) => e.name === 'dead-lettered'))
  t.ok(sorted.every((s) => s.events.some((e) => e.name === 'exception' && e.attributes?.['exception.type'] === 'E_NO')), 'each failure is recorded')
  t.ok(sorted.every((s) => s.attributes['error.type'] === 'E_NO' && s.status.code === SpanStatusCode.ERROR), 'each process span failed, with error.type')
})

t.test('the metrics have the conventions\' names, attributes and counts after a known workload', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key, `${key}.rpc`)
  // closeTimeout: the RPC handler never answers, and the app must not wait 30 s for it at the end.
  const app = await build(t, { closeTimeout: 200 }, { ready: false })
  const got = collector<number>(5)
  app.amqp.consume(key, async (msg: WarrenMessage<any>) => {
    if (msg.body.n === 99) throw new Error('always')
    got.push(msg.body.n)
  }, { retry: { attempts: 2, delay: 20, jitter: 0 } })
  app.amqp.consume(`${key}.rpc`, async () => new Promise(() => {}))
  await app.ready()
  for (let n = 0; n < 5; n++) await app.amqp.publish(key, { n })
  await app.amqp.publish(key, { n: 99 })
  await got.done
  await t.rejects(app.amqp.request(`${key}.rpc`, {}, { timeout: 100 }), { code: 'FST_AMQP_RPC_TIMEOUT' })
  // A gather that hears nobody ends at its deadline, with partial results: that is no RPC timeout.
  t.match(await app.amqp.gather(`${key}.rpc`, {}, { timeout: 100 }), { complete: false })
  const dest = (name: string) => (p: DataPoint<unknown>) => String(p.attributes['messaging.destination.name']).endsWith(name)
  const points = async (metric: string) => {
    const { resourceMetrics } = await reader.collect()
    const found = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === metric)
    return (found?.dataPoints ?? []) as Array<DataPoint<any>>
  }
  const sum = (ps: Array<DataPoint<any>>, where: (p: DataPoint<any>) => boolean) => ps.filter(where).reduce((n, p) => n + (typeof p.value === 'number' ? p.value : p.value.count), 0)
  await waitFor('the dead-lettering to be counted', async () => sum(await points('fastify_warren.messages.dead_lettered'), (p) => p.attributes['fastify_warren.queue'] === key) === 1)

  const sent = await points('messaging.client.sent.messages')
  t.equal(sum(sent, dest(`:${key}`)), 6, 'sent: 6 publishes')
  t.match(sent.find(dest(`:${key}`))?.attributes as Attributes, { 'messaging.system': 'rabbitmq', 'messaging.operation.name': 'publish' })
  const consumed = await points('messaging.client.consumed.messages')
  t.equal(sum(consumed, dest(`:${key}`)), 7, 'consumed: 5 good, the failing one twice')
  const processDuration = await points('messaging.process.duration')
  t.equal(sum(processDuration, dest(`:${key}`)), 7, 'a process duration per delivery')
  const opDuration = await points('messaging.client.operation.duration')
  t.equal(sum(opDuration, dest(`:${key}`)), 6, 'an operation duration per publish')
  t.equal(sum(await points('fastify_warren.messages.retried'), (p) => p.attributes['fastify_warren.queue'] === key), 1, 'one retry')
  t.equal(sum(await points('fastify_warren.messages.dead_lettered'), (p) => p.attributes['fastify_warren.queue'] === key), 1, 'one dead-lettering')
  t.equal(sum(await points('fastify_warren.rpc.timeouts'), (p) => p.attributes['messaging.rabbitmq.destination.routing_key'] === `${key}.rpc`), 1, 'one RPC timeout')
  const timedOut = (await points('messaging.client.sent.messages')).find((p) => p.attributes['messaging.operation.name'] === 'request' && dest(`${key}.rpc`)(p) && p.attributes['error.type'] === 'FST_AMQP_RPC_TIMEOUT')
  t.ok(timedOut, 'the timed-out request is counted with its error.type')
  t.ok((await points('fastify_warren.connection.state')).some((p) => p.value === 1), 'the connection state gauge')
  t.ok((await points('fastify_warren.publish.buffered')).length > 0, 'the buffered gauge')
})

t.test('msg.log lines carry the message id, the queue, the attempt and the trace id', async (t) => {
  const key = uniqueName(t)
  const exchange = uniqueName(t, 'x')
  const { queues } = await admin(t)
  queues.push(key)
  const { app, lines } = appWithLog()
  t.teardown(async () => { await app.close(); await deleteExchange(exchange) })
  await app.register(warren, { url: AMQP_URL, exchange })
  const seen = collector<string>(1)
  app.amqp.consume(key, async (msg) => {
    msg.log.info({ step: 'handled' }, 'custom line')
    seen.push('ok')
  })
  await app.ready()
  const { messageId } = await app.amqp.publish(key, {})
  await seen.done
  const line = JSON.parse(lines.find((l) => l.includes('custom line'))!)
  const [processed] = await waitFor('the process span', () => { const s = named('process', key); return s.length > 0 && s })
  t.match(line, { messageId, queue: key, routingKey: key, attempt: 1, step: 'handled', trace_id: processed.spanContext().traceId, span_id: processed.spanContext().spanId })
})

t.test('the diagnostics channels fire with the documented payloads', async (t) => {
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key, `${key}.rpc`, `${key}.bad`, `${key}.bad.dlq`)
  const events: Array<[string, string, any]> = []
  const subscribe = (name: string) => {
    const handlers = Object.fromEntries(['start', 'end', 'asyncStart', 'asyncEnd', 'error'].map((e) => [e, (ctx: any) => { events.push([name, e, ctx]) }]))
    diagnostics.tracingChannel(`fastify-warren:${name}`).subscribe(handlers as any)
    t.teardown(() => diagnostics.tracingChannel(`fastify-warren:${name}`).unsubscribe(handlers as any))
  }
  subscribe('publish')
  subscribe('process')
  subscribe('request')
  const app = await build(t, {}, { ready: false })
  const got = collector<string>(1)
  app.amqp.consume(key, async () => { got.push('ok') })
  app.amqp.consume(`${key}.rpc`, async () => 'pong')
  app.amqp.consume(`${key}.bad`, async () => { throw Object.assign(new Error('bad'), { code: 'E_BAD' }) }, { retry: false })
  await app.ready()
  const { messageId } = await app.amqp.publish(key, { a: 1 })
  await got.done
  t.equal(await app.amqp.request(`${key}.rpc`, {}), 'pong')
  await waitFor('the process channel to end', () => events.some(([n, e, c]) => n === 'process' && e === 'asyncEnd' && c.queue === key))
  const publish = events.filter(([n, , c]) => n === 'publish' && c.routingKey === key).map(([, e, c]) => [e, c])
  t.same(publish.map(([e]) => e), ['start', 'end', 'asyncStart', 'asyncEnd'])
  t.match(publish[3][1], { operation: 'publish', routingKey: key, messageId, bodySize: 7, headers: { traceparent: String }, result: { messageId } })
  const processed = events.find(([n, e, c]) => n === 'process' && e === 'asyncEnd' && c.queue === key)![2]
  t.match(processed, { queue: key, routingKey: key, messageId, attempt: 1, outcome: 'ack', message: { body: { a: 1 } } })
  const request = events.find(([n, e, c]) => n === 'request' && e === 'asyncEnd' && c.routingKey === `${key}.rpc`)![2]
  t.match(request, { operation: 'request', correlationId: String, result: 'pong' })

  await app.amqp.publish(`${key}.bad`, {})
  const failed = await waitFor('the failed delivery to end', () => events.find(([n, e, c]) => n === 'process' && e === 'asyncEnd' && c.queue === `${key}.bad`)?.[2])
  t.match(failed, { outcome: 'dead-letter', error: { code: 'E_BAD' } }, 'a handler that threw: the error on the context, the outcome on asyncEnd')
  t.notOk(events.some(([n, e, c]) => n === 'process' && e === 'error' && c.queue === `${key}.bad`), 'a handled failure fires no error event')
})
