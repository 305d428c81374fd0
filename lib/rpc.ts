import { randomUUID } from 'node:crypto'
import type { ConfirmChannel, ConsumeMessage } from 'amqplib'
import type { NormalizedRequest } from './call-options'
import { decode, type Encoded } from './codec'
import type { Connection } from './connection'
import { ERROR_HEADER } from './consumer'
import {
  FST_AMQP_CLOSED,
  FST_AMQP_RPC_INTERRUPTED,
  FST_AMQP_RPC_REMOTE_ERROR,
  FST_AMQP_RPC_TIMEOUT
} from './errors'
import type { Log } from './log'
import { Publisher } from './publisher'

/** RabbitMQ's direct reply-to pseudo-queue. */
const REPLY_TO = 'amq.rabbitmq.reply-to'

interface Pending {
  routingKey: string
  resolve: (value: any) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
  /** Set once the broker has confirmed the request: it now waits on the current channel's reply consumer. */
  sent: boolean
  /** The caller's stack, so a late failure still points at the request() call. */
  origin: { stack?: string }
}

/** @internal The requester side of RPC, over direct reply-to with correlation ids. */
export class RpcClient {
  private readonly pending = new Map<string, Pending>()
  private readonly publisher: Publisher
  private starting: Promise<unknown> | undefined
  private closed = false

  constructor (conn: Connection, opts: { publishTimeout: number, reopenDelay: number, knownExchanges: string[] }, log: Log) {
    this.publisher = new Publisher(conn, {
      name: 'rpc',
      ...opts,
      // Direct reply-to: the reply consumer must live on the channel that publishes the requests.
      setup: async (ch: ConfirmChannel) => {
        await ch.consume(REPLY_TO, (msg) => this.onReply(msg), { noAck: true })
      }
    }, log)
    // Replies to requests sent on a lost channel can never arrive.
    this.publisher.channel.on('lost', () => {
      for (const [id, p] of this.pending) {
        if (p.sent) this.fail(id, p, new FST_AMQP_RPC_INTERRUPTED(p.routingKey))
      }
    })
  }

  /** Resolves with the decoded reply; rejects with a coded error, at the latest after `o.timeout` ms. */
  request (routingKey: string, encoded: Encoded, o: NormalizedRequest): Promise<unknown> {
    if (this.closed) return Promise.reject(new FST_AMQP_CLOSED('request() after close'))
    const origin: { stack?: string } = {}
    Error.captureStackTrace(origin, RpcClient.prototype.request)
    const correlationId = randomUUID()
    const reply = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const p = this.pending.get(correlationId)
        if (p) this.fail(correlationId, p, new FST_AMQP_RPC_TIMEOUT(routingKey, o.timeout))
      }, o.timeout)
      this.pending.set(correlationId, { routingKey, resolve, reject, timer, sent: false, origin })
    })
    // The caller holds `reply`, which settles by the timeout whatever happens to the send.
    this.send(correlationId, routingKey, encoded, o).catch((err: Error) => {
      const p = this.pending.get(correlationId)
      if (p) this.fail(correlationId, p, err)
    })
    return reply
  }

  private async send (correlationId: string, routingKey: string, encoded: Encoded, o: NormalizedRequest): Promise<void> {
    this.starting ??= this.publisher.start().catch((err: Error) => {
      this.starting = undefined // the next request tries again
      throw err
    })
    await this.starting
    await this.publisher.publish(o.exchange, routingKey, encoded.content, {
      messageId: correlationId,
      correlationId,
      replyTo: REPLY_TO,
      contentType: encoded.contentType,
      headers: o.headers,
      // A request nobody took in time is dropped by the broker, not executed late.
      expiration: String(o.timeout),
      persistent: false,
      mandatory: true
    }, o.timeout)
    const p = this.pending.get(correlationId)
    if (p) p.sent = true
  }

  private onReply (msg: ConsumeMessage | null): void {
    if (!msg) return
    const id = msg.properties.correlationId
    const p = typeof id === 'string' ? this.pending.get(id) : undefined
    if (!p) return // late reply to a request that timed out
    this.pending.delete(id)
    clearTimeout(p.timer)
    let body: any
    try {
      body = decode(msg.content, msg.properties.contentType, msg.properties.contentEncoding)
    } catch (err) {
      return p.reject(withOrigin(err as Error, p.origin))
    }
    if (msg.properties.headers?.[ERROR_HEADER] !== undefined) {
      const remote = body?.error ?? {}
      const err = new FST_AMQP_RPC_REMOTE_ERROR(p.routingKey, remote.message ?? 'unknown error')
      Object.assign(err, { remote: { message: remote.message, code: remote.code } })
      return p.reject(withOrigin(err, p.origin))
    }
    p.resolve(body)
  }

  private fail (id: string, p: Pending, err: Error): void {
    this.pending.delete(id)
    clearTimeout(p.timer)
    p.reject(withOrigin(err, p.origin))
  }

  /** Rejects every pending request with FST_AMQP_CLOSED and closes the channel. Safe to call twice. */
  async close (timeout: number): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const [id, p] of this.pending) this.fail(id, p, new FST_AMQP_CLOSED('the app closed while the request waited for its reply'))
    await this.publisher.close(timeout)
  }
}

function withOrigin (err: Error, origin: { stack?: string }): Error {
  if (origin.stack && err.stack) err.stack += '\n    --- request() called at ---' + origin.stack.slice(origin.stack.indexOf('\n'))
  return err
}
