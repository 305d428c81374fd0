import { context, metrics, propagation, SpanKind, trace, type Span } from '@opentelemetry/api'
import type { ConfirmChannel, Options } from 'amqplib'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { Admin, alternate, MESSAGE, pluginApp, rawConnect, timed, windowed, type Row } from '../harness'
import type { BenchOptions } from '../options'
import { perSecond } from '../stats'
import { pluginConsume, setStall } from './consume'
import { rawPublishMany } from './publish'

/*
 * What tracing costs: publish and consume with the OpenTelemetry SDK
 * registered (a batch span processor whose exporter drops everything, and a
 * meter provider without readers) beside the same with no SDK, alternating in
 * one run. The SDK is registered only for the rounds that use it.
 */

/** An exporter that exports nothing, at once. */
const nowhere: SpanExporter = {
  export (_spans: ReadableSpan[], done) { done({ code: 0 }) },
  async shutdown () {}
}

const tracerProvider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(nowhere)] })
const meterProvider = new MeterProvider()

function withSdk<T> (run: () => Promise<T>): () => Promise<T> {
  return async () => {
    trace.setGlobalTracerProvider(tracerProvider)
    propagation.setGlobalPropagator(new W3CTraceContextPropagator())
    metrics.setGlobalMeterProvider(meterProvider)
    try {
      return await run()
    } finally {
      trace.disable()
      propagation.disable()
      metrics.disable()
      context.disable()
    }
  }
}

/**
 * amqplib traced by hand, the least a tracing publisher does: a PRODUCER span
 * per message with the conventions' attributes, its context injected into
 * the headers, ended on the confirm. What the SDK costs on its own.
 */
function rawTracedPublishMany (ch: ConfirmChannel, exchange: string, key: string, total: number, inFlight: number): Promise<void> {
  const tracer = trace.getTracer('bench')
  const attributes = {
    'messaging.system': 'rabbitmq',
    'messaging.operation.name': 'publish',
    'messaging.operation.type': 'send',
    'messaging.destination.name': `${exchange}:${key}`,
    'messaging.rabbitmq.destination.routing_key': key,
    'messaging.message.body.size': Buffer.byteLength(JSON.stringify(MESSAGE))
  }
  const spans = new WeakMap<object, Span>()
  const traced = (): Options.Publish => {
    const span = tracer.startSpan(`publish ${exchange}:${key}`, { kind: SpanKind.PRODUCER, attributes })
    const props = { headers: {} }
    propagation.inject(trace.setSpan(context.active(), span), props.headers)
    spans.set(props, span)
    return props
  }
  return rawPublishMany(ch, exchange, key, total, inFlight, traced, (props) => spans.get(props)?.end())
}

/** Scenario: publish and consume with an OpenTelemetry SDK (no-op exporter), against the plugin with none. */
export async function telemetryScenario (opts: BenchOptions, admin: Admin, log: (msg: string) => void): Promise<Row[]> {
  const exchange = await admin.exchange('x')
  const queue = await admin.queue('telemetry', { exchange })
  const app = await pluginApp(opts.url, { exchange })
  const conn = await rawConnect(opts.url)
  setStall(opts.quick ? 2000 : 5000)
  try {
    const ch = await conn.createConfirmChannel()
    ch.on('return', () => {})
    const publishRound = (run: () => Promise<void>) => async () => {
      await admin.purge(queue)
      const t = await timed(run)
      return { rate: perSecond(opts.messages, t.ms), cpu: t.cpuUs / opts.messages }
    }
    const pluginRound = publishRound(() => windowed(opts.messages, opts.window, () => app.amqp.publish(queue, MESSAGE)))
    const rawRound = publishRound(() => rawTracedPublishMany(ch, exchange, queue, opts.messages, opts.window))
    await pluginRound()
    await withSdk(pluginRound)()
    const published = await alternate(opts.rounds, { plain: pluginRound, sdk: withSdk(pluginRound), rawSdk: withSdk(rawRound) }, log)
    await admin.purge(queue)
    const consumeRound = async () => {
      const q = await admin.queue('telemetry-consume', { durable: true })
      await admin.fill(q, opts.messages)
      const { ms, cpuUs, handled } = await pluginConsume(app, q, opts.messages, opts.prefetch)
      await admin.deleteQueue(q)
      if (handled < opts.messages) return { rate: NaN, cpu: NaN }
      return { rate: perSecond(opts.messages, ms), cpu: cpuUs / opts.messages }
    }
    const consumed = await alternate(opts.rounds, { plain: consumeRound, sdk: withSdk(consumeRound) }, log)
    const vs = (results: Record<string, Array<{ rate: number, cpu: number }>>, key: 'rate' | 'cpu') =>
      ({ plugin: results.sdk.map((r) => r[key]), plain: results.plain.map((r) => r[key]) })
    const note = 'plugin: with the OpenTelemetry SDK registered (batch processor, exporter that drops, meter provider without reader); plain: no SDK'
    return [{
      id: 'publish-otel',
      title: 'publish with an OTel SDK (no-op exporter) vs none',
      unit: 'msg/s',
      better: 'higher',
      samples: vs(published, 'rate'),
      baseline: 'plain',
      goal: { ratioAtLeast: 0.75 },
      note
    }, {
      id: 'publish-otel-cpu',
      title: 'publish with an OTel SDK: CPU per message (info)',
      unit: 'µs',
      better: 'lower',
      samples: vs(published, 'cpu'),
      baseline: 'plain'
    }, {
      id: 'publish-otel-by-hand',
      title: 'publish with an OTel SDK: CPU vs amqplib traced by hand (info)',
      unit: 'µs',
      better: 'lower',
      samples: { plugin: published.sdk.map((r) => r.cpu), raw: published.rawSdk.map((r) => r.cpu) },
      baseline: 'raw',
      note: 'raw: amqplib with a PRODUCER span per message, its context injected into the headers, ended on the confirm; the same SDK'
    }, {
      id: 'consume-otel',
      title: 'consume with an OTel SDK (no-op exporter) vs none',
      unit: 'msg/s',
      better: 'higher',
      samples: vs(consumed, 'rate'),
      baseline: 'plain',
      goal: { ratioAtLeast: 0.75 }
    }, {
      id: 'consume-otel-cpu',
      title: 'consume with an OTel SDK: CPU per message (info)',
      unit: 'µs',
      better: 'lower',
      samples: vs(consumed, 'cpu'),
      baseline: 'plain'
    }]
  } finally {
    await app.close()
    await conn.close()
  }
}
