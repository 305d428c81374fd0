import type * as Api from '@opentelemetry/api'
import { channels, type ProcessEvent, type PublishEvent, type RequestEvent } from './channels'
import { makeInstruments, type Gauges, type Instruments } from './instruments'
import { ProcessOperation, SendOperation, type DeliveryTrace, type Send } from './operations'
import { api, getter, SCOPE, setter, VERSION, type Attributes } from './otel'
import { Targets } from './targets'

export { NO_TRACE, type DeliveryTrace, type Send, type Sent, type SendRecord } from './operations'
export { destinationName } from './targets'
export type { Gauges } from './instruments'

/*
 * Traces and metrics through @opentelemetry/api, and Node's diagnostics
 * channels, around every message the plugin sends and handles. Without the
 * API installed, without an SDK registered and without a channel subscriber,
 * `on` is false and the core takes its plain path, paying for none of this.
 *
 * Names follow OpenTelemetry's messaging semantic conventions for RabbitMQ:
 * spans `{operation} {destination}`, `messaging.*` attributes, and the
 * `messaging.client.*` and `messaging.process.duration` metrics.
 */

/** @internal What the process span needs of the consumer and the delivery: the channel's context, and more. */
export type ProcessInfo = Omit<ProcessEvent, 'outcome' | 'error'> & {
  bodySize: number
  headers: Record<string, unknown>
}

function isNoop (provider: unknown, name: string): boolean {
  return (provider as { constructor?: { name?: unknown } } | null)?.constructor?.name === name
}

/**
 * @internal
 * One per plugin instance. `on` says whether anyone listens; the core asks
 * before every message and takes its plain path when nobody does.
 */
export class Telemetry {
  private tracerDelegate: unknown
  private tracer: Api.Tracer | undefined
  private meterProvider: unknown
  private instruments: Instruments | undefined
  private readonly common: Attributes
  private readonly targets: Targets

  constructor (private readonly opts: { server: { address: string, port: number | undefined }, clientId: string, gauges: () => Gauges }) {
    const common: Attributes = { 'messaging.system': 'rabbitmq', 'server.address': opts.server.address }
    if (opts.server.port !== undefined) common['server.port'] = opts.server.port
    common['messaging.client.id'] = opts.clientId
    this.common = Object.freeze(common)
    this.targets = new Targets(this.common)
  }

  /** The tracer, when an SDK records traces (asked each time: an SDK may be registered later). */
  private activeTracer (): Api.Tracer | undefined {
    if (api === undefined) return undefined
    const provider = api.trace.getTracerProvider() as Api.TracerProvider & { getDelegate?: () => unknown }
    const delegate = typeof provider.getDelegate === 'function' ? provider.getDelegate() : provider
    if (delegate !== this.tracerDelegate) {
      this.tracerDelegate = delegate
      this.tracer = isNoop(delegate, 'NoopTracerProvider') ? undefined : api.trace.getTracer(SCOPE, VERSION)
    }
    return this.tracer
  }

  /** The instruments, when an SDK collects metrics; made again for a new meter provider. */
  private activeInstruments (): Instruments | undefined {
    if (api === undefined) return undefined
    const provider = api.metrics.getMeterProvider()
    if (provider !== this.meterProvider) {
      this.meterProvider = provider
      this.instruments = isNoop(provider, 'NoopMeterProvider')
        ? undefined
        : makeInstruments(provider.getMeter(SCOPE, VERSION), this.common, this.opts.gauges)
    }
    return this.instruments
  }

  /** Whether anyone listens: a diagnostics channel subscriber, or an SDK recording traces or metrics. */
  get on (): boolean {
    return channels.publish.hasSubscribers || channels.process.hasSubscribers || channels.request.hasSubscribers ||
      this.activeTracer() !== undefined || this.activeInstruments() !== undefined
  }

  /**
   * A message sent (publish, pipeline forward): a PRODUCER span in the active
   * context, ended on the broker's confirm; its context injected into the
   * message's headers (`traceparent`, `tracestate`, `baggage`); the
   * `fastify-warren:publish` channel; the send metrics.
   */
  publish<T> (operation: PublishEvent['operation'], exchange: string, routingKey: string, send: Send<T>): Promise<T> {
    const event: PublishEvent | undefined = channels.publish.hasSubscribers ? { operation, exchange, routingKey, headers: {} } : undefined
    return this.send('publish', 'PRODUCER', exchange, routingKey, event, channels.publish, send)
  }

  /**
   * A request() or gather(): a CLIENT span, its context injected into the
   * request, ended with the reply (or the replies); the
   * `fastify-warren:request` channel; the send metrics.
   */
  request<T> (operation: RequestEvent['operation'], exchange: string, routingKey: string, send: Send<T>): Promise<T> {
    const event: RequestEvent | undefined = channels.request.hasSubscribers ? { operation, exchange, routingKey, headers: {} } : undefined
    return this.send(operation, 'CLIENT', exchange, routingKey, event, channels.request, send)
  }

  private send<T> (
    operation: string,
    kind: 'PRODUCER' | 'CLIENT',
    exchange: string,
    routingKey: string,
    event: PublishEvent | RequestEvent | undefined,
    channel: typeof channels.publish | typeof channels.request,
    send: Send<T>
  ): Promise<T> {
    const target = this.targets.get(operation, 'send', exchange, routingKey)
    const tracer = this.activeTracer()
    if (tracer === undefined || api === undefined) return new SendOperation(target, undefined, this.activeInstruments(), event).start(channel, send)
    const parent = api.context.active()
    const span = tracer.startSpan(target.spanName, { kind: api.SpanKind[kind], attributes: target.attributes }, parent)
    const op = new SendOperation(target, span, this.activeInstruments(), event)
    const active = api.trace.setSpan(parent, span)
    api.propagation.inject(active, op.headers, setter)
    // The message is written with this span active: an amqplib instrumentation
    // running beside the plugin makes its span a child of ours, and the
    // context it injects in turn stays in the same trace.
    return api.context.with(active, op.start, op, channel, send) as Promise<T>
  }

  /**
   * One delivery handled: a CONSUMER `process` span whose parent is the
   * producer's context, taken from the headers; the handler runs inside it,
   * so what it publishes continues the trace. The `fastify-warren:process`
   * channel, and the consume metrics.
   */
  process<T> (info: ProcessInfo, handle: (trace: DeliveryTrace) => Promise<T>): Promise<T> {
    const target = this.targets.get('process', 'process', info.exchange, info.routingKey, info.queue)
    const instruments = this.activeInstruments()
    instruments?.consumed.add(1, target.metric)
    const context = channels.process.hasSubscribers
      ? {
          queue: info.queue,
          exchange: info.exchange,
          routingKey: info.routingKey,
          messageId: info.messageId,
          correlationId: info.correlationId,
          attempt: info.attempt,
          message: info.message
        }
      : undefined
    const tracer = this.activeTracer()
    if (tracer === undefined || api === undefined) return new ProcessOperation(target, undefined, instruments, context).start(handle)
    const parent = api.propagation.extract(api.ROOT_CONTEXT, info.headers, getter)
    const span = tracer.startSpan(target.spanName, { kind: api.SpanKind.CONSUMER, attributes: target.attributes }, parent)
    span.setAttribute('messaging.message.body.size', info.bodySize)
    if (info.messageId !== undefined) span.setAttribute('messaging.message.id', info.messageId)
    if (info.correlationId !== undefined) span.setAttribute('messaging.message.conversation_id', info.correlationId)
    if (info.attempt > 1) span.setAttribute('fastify_warren.attempt', info.attempt)
    const op = new ProcessOperation(target, span, instruments, context)
    return api.context.with(api.trace.setSpan(parent, span), op.start, op, handle) as Promise<T>
  }

  /** A failed message sent to a wait queue. */
  retried (queue: string, reason: string): void {
    this.activeInstruments()?.retried.add(1, { 'messaging.system': 'rabbitmq', 'fastify_warren.queue': queue, 'fastify_warren.reason': reason })
  }

  /** A message moved to a dead-letter queue. */
  deadLettered (queue: string, reason: string): void {
    this.activeInstruments()?.deadLettered.add(1, { 'messaging.system': 'rabbitmq', 'fastify_warren.queue': queue, 'fastify_warren.reason': reason })
  }

  /** A request that got no reply in time. */
  rpcTimeout (routingKey: string): void {
    this.activeInstruments()?.rpcTimeouts.add(1, { 'messaging.system': 'rabbitmq', 'messaging.rabbitmq.destination.routing_key': routingKey })
  }
}
