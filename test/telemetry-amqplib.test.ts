import t from 'tap'
import { SpanKind } from '@opentelemetry/api'
import { registerInstrumentations } from '@opentelemetry/instrumentation'
import { AmqplibInstrumentation } from '@opentelemetry/instrumentation-amqplib'
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'

/*
 * Beside @opentelemetry/instrumentation-amqplib, which patches amqplib's own
 * publish and consume: the trace must not break. The instrumentation is
 * registered before amqplib (and the plugin) load, as an app's SDK does.
 */

const spans = new InMemorySpanExporter()
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
provider.register()
registerInstrumentations({ instrumentations: [new AmqplibInstrumentation()] })
t.teardown(() => provider.shutdown())

t.test('with instrumentation-amqplib on, the trace runs unbroken from the plugin\'s publish span to its process span', async (t) => {
  const { admin, build, collector, uniqueName, waitFor } = await import('./helpers')
  const key = uniqueName(t)
  const { queues } = await admin(t)
  queues.push(key)
  const app = await build(t, {}, { ready: false })
  const got = collector<string>(1)
  let traceparents = 0
  app.amqp.consume(key, async (msg) => {
    traceparents = Object.keys(msg.headers).filter((h) => h === 'traceparent').length
    got.push('ok')
  })
  await app.ready()
  await app.amqp.publish(key, { n: 1 })
  await got.done
  const finished = (): ReadableSpan[] => spans.getFinishedSpans()
  const ours = (prefix: string) => finished().find((s) => s.instrumentationScope.name === 'fastify-warren' && s.name.startsWith(prefix) && s.name.includes(key))
  const [publish, processed] = await waitFor('the plugin\'s spans', () => { const p = ours('publish'); const c = ours('process'); return p !== undefined && c !== undefined && [p, c] })
  const byId = (id: string | undefined) => finished().find((s) => s.spanContext().spanId === id)
  const ancestors: ReadableSpan[] = []
  for (let p = byId(processed.parentSpanContext?.spanId); p !== undefined; p = byId(p.parentSpanContext?.spanId)) ancestors.push(p)
  t.equal(processed.spanContext().traceId, publish.spanContext().traceId, 'one trace')
  t.ok(ancestors.includes(publish), 'the plugin\'s publish span is an ancestor of its process span')
  const amqplib = finished().filter((s) => s.instrumentationScope.name.includes('amqplib'))
  t.ok(amqplib.some((s) => s.kind === SpanKind.PRODUCER && byId(s.parentSpanContext?.spanId) === publish), 'the instrumentation\'s publish span is a child of the plugin\'s')
  t.equal(traceparents, 1, 'one traceparent header on the message')
})
