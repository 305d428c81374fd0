import type * as Api from '@opentelemetry/api'
import { channels, type ProcessEvent, type PublishEvent, type RequestEvent } from './channels'
import type { Instruments } from './instruments'
import { api, errorType, safeMessage, type Attributes } from './otel'
import { failedMetric, type Target } from './targets'

/*
 * One traced operation each: a message sent (publish, forward, request,
 * gather) or a delivery handled. A class with methods rather than closures:
 * these run once per message, and every closure is an allocation.
 */

/** @internal What a span learns of a message once it is built. */
export interface Sent {
  messageId?: string
  correlationId?: string
  bodySize: number
}

/** @internal Told of the message once it is built, and of what happens to it. */
export interface SendRecord {
  sent (s: Sent): void
  /** An event on the span (a gather's reply received...). */
  event (name: string, attributes?: Attributes): void
}

/** @internal Builds the message with `headers` (the trace context) added, and sends it. */
export type Send<T> = (headers: Record<string, unknown>, record: SendRecord) => Promise<T>

/** @internal What the consumer tells the trace of one delivery. */
export interface DeliveryTrace {
  /** An event on the process span (a retry scheduled, a reply sent...). */
  event (name: string, attributes?: Attributes): void
  /** How the delivery was settled: on the span and in the channel's context. */
  outcome (outcome: string): void
  /** Why the message could not be processed (undecodable, invalid, the handler threw): `error.type`, the exception, an error status. */
  failed (err: unknown): void
  /** The trace and span ids, when a span records, for the log lines about the message. */
  readonly traceId: string | undefined
  readonly spanId: string | undefined
}

/** @internal The trace of a delivery nobody traces. */
export const NO_TRACE: DeliveryTrace = { event () {}, outcome () {}, failed () {}, traceId: undefined, spanId: undefined }

function seconds (since: number): number {
  return (performance.now() - since) / 1000
}

function markFailed (span: Api.Span, type: string, err: unknown, exception: boolean): void {
  span.setAttribute('error.type', type)
  if (exception) span.recordException(err as Error)
  span.setStatus({ code: api!.SpanStatusCode.ERROR, message: safeMessage(err) })
}

/** @internal A message sent: its PRODUCER (publish, forward) or CLIENT (request, gather) span and metrics. */
export class SendOperation implements SendRecord {
  /** The headers the message carries: the trace context, and what a channel subscriber adds. */
  readonly headers: Record<string, unknown>
  private readonly started: number

  constructor (
    private readonly target: Target,
    private readonly span: Api.Span | undefined,
    private readonly instruments: Instruments | undefined,
    private readonly context: PublishEvent | RequestEvent | undefined
  ) {
    this.headers = context === undefined ? {} : context.headers
    this.started = instruments === undefined ? 0 : performance.now()
  }

  sent (s: Sent): void {
    const { span, context } = this
    if (context !== undefined) {
      if (s.messageId !== undefined) (context as PublishEvent).messageId = s.messageId
      context.correlationId = s.correlationId
      context.bodySize = s.bodySize
    }
    if (span === undefined) return
    if (s.messageId !== undefined) span.setAttribute('messaging.message.id', s.messageId)
    if (s.correlationId !== undefined) span.setAttribute('messaging.message.conversation_id', s.correlationId)
    span.setAttribute('messaging.message.body.size', s.bodySize)
  }

  event (name: string, attributes?: Attributes): void {
    this.span?.addEvent(name, attributes)
  }

  /** Runs `send` (in the span's context, when the caller set it), ending the span and recording the metrics when it settles. */
  start<T> (channel: typeof channels.publish | typeof channels.request, send: Send<T>): Promise<T> {
    return this.context === undefined ? this.run(send) : channel.tracePromise(this.run, this.context as any, this, send) as Promise<T>
  }

  private async run<T> (send: Send<T>): Promise<T> {
    let result: T
    try {
      result = await send(this.headers, this)
    } catch (err) {
      this.failed(err)
      throw err
    }
    this.span?.end()
    const { instruments } = this
    if (instruments !== undefined) {
      instruments.sent.add(1, this.target.metric)
      instruments.operationDuration.record(seconds(this.started), this.target.metric)
    }
    return result
  }

  private failed (err: unknown): void {
    const type = errorType(err)
    if (this.span !== undefined) {
      markFailed(this.span, type, err, true)
      this.span.end()
    }
    const { instruments } = this
    if (instruments !== undefined) {
      const metric = failedMetric(this.target, type)
      instruments.sent.add(1, metric)
      instruments.operationDuration.record(seconds(this.started), metric)
    }
  }
}

/** @internal A delivery handled: its CONSUMER `process` span and metrics. */
export class ProcessOperation implements DeliveryTrace {
  private readonly started: number
  /** The error.type of a message that could not be processed, for the duration metric. */
  private failure: string | undefined

  constructor (
    private readonly target: Target,
    private readonly span: Api.Span | undefined,
    private readonly instruments: Instruments | undefined,
    private readonly context: ProcessEvent | undefined
  ) {
    this.started = instruments === undefined ? 0 : performance.now()
  }

  get traceId (): string | undefined {
    return this.span?.spanContext().traceId
  }

  get spanId (): string | undefined {
    return this.span?.spanContext().spanId
  }

  event (name: string, attributes?: Attributes): void {
    this.span?.addEvent(name, attributes)
  }

  outcome (outcome: string): void {
    if (this.context !== undefined) this.context.outcome = outcome
    this.span?.setAttribute('fastify_warren.outcome', outcome)
  }

  failed (err: unknown): void {
    if (this.context !== undefined) this.context.error = err
    const type = this.failure = errorType(err)
    if (this.span !== undefined) markFailed(this.span, type, err, true)
  }

  /** Runs the handling (in the span's context, when the caller set it), ending the span when it settles. */
  start<T> (handle: (trace: DeliveryTrace) => Promise<T>): Promise<T> {
    return this.context === undefined ? this.run(handle) : channels.process.tracePromise(this.run, this.context, this, handle) as Promise<T>
  }

  private async run<T> (handle: (trace: DeliveryTrace) => Promise<T>): Promise<T> {
    let result: T
    try {
      result = await handle(this)
    } catch (err) {
      const type = errorType(err)
      if (this.span !== undefined) {
        markFailed(this.span, type, err, false)
        this.span.end()
      }
      this.instruments?.processDuration.record(seconds(this.started), failedMetric(this.target, type))
      throw err
    }
    this.span?.end()
    const { failure } = this
    this.instruments?.processDuration.record(seconds(this.started), failure === undefined ? this.target.metric : failedMetric(this.target, failure))
    return result
  }
}
