import type { FastifyBaseLogger } from 'fastify'
import type { DeliveryTrace } from '../telemetry/telemetry'
import { childOf, type Log } from './log'
import type { MessageProperties, WarrenMessage } from './types'

/** @internal What `msg.log` binds, read when it is first used. */
export interface LogSource {
  readonly queue: string
  readonly log: Log
}

/** @internal What `msg.log` needs of the delivery: its ids and, once traced, its span. */
export interface LogIds {
  readonly messageId: string | undefined
  readonly correlationId: string | undefined
  readonly trace: DeliveryTrace
}

/**
 * @internal
 * The handler's `msg`. A class, so that every message has the same shape and
 * `log` is one getter on the prototype: it is made on first use, since most
 * messages never log, and it is not an own property (spreading or
 * serialising a message leaves it out).
 */
export class Message implements WarrenMessage {
  #log: FastifyBaseLogger | undefined
  readonly #source: LogSource
  readonly #ids: LogIds

  constructor (
    public body: unknown,
    public content: Buffer,
    public routingKey: string,
    public exchange: string,
    public headers: Record<string, any>,
    public properties: MessageProperties,
    public redelivered: boolean,
    public attempt: number,
    source: LogSource,
    ids: LogIds
  ) {
    this.#source = source
    this.#ids = ids
  }

  /**
   * A child of the consumer's logger with the message id, correlation id,
   * routing key, queue and attempt, and the trace and span ids when the
   * delivery is traced.
   */
  get log (): FastifyBaseLogger {
    if (this.#log !== undefined) return this.#log
    const ids = this.#ids
    const bindings: Record<string, unknown> = { queue: this.#source.queue, routingKey: this.routingKey, attempt: this.attempt }
    if (ids.messageId !== undefined) bindings.messageId = ids.messageId
    if (ids.correlationId !== undefined) bindings.correlationId = ids.correlationId
    const { traceId, spanId } = ids.trace
    if (traceId !== undefined) {
      bindings.trace_id = traceId
      bindings.span_id = spanId
    }
    this.#log = childOf(this.#source.log, bindings) as FastifyBaseLogger
    return this.#log
  }
}
