import type { MessageProperties } from './core/types'
import { decode } from './core/codec'
import { brokerNamed, connectMemory, type MemoryBroker } from './transport/memory/index'
import type { MemoryConnection } from './transport/memory/connection'
import type { MemoryChannel } from './transport/memory/channel'

/*
 * `fastify-warren/testing`: the in-memory broker as a user's tests see it.
 * Register the plugin with `url: broker.url` in every app of the test; they
 * share the broker, as services share RabbitMQ.
 */

/** A message held in a queue of the memory broker, as `messages()` lists it. */
export interface QueuedMessage {
  /** The body decoded as the plugin decodes it (JSON, text, or the bytes); undefined when it does not decode. */
  body: unknown
  /** The raw bytes. */
  content: Buffer
  /** The exchange and routing key it was published (or dead-lettered) with. */
  exchange: string
  routingKey: string
  /** Its headers (`x-death` and the plugin's `x-warren-*` included). */
  headers: Record<string, unknown>
  properties: MessageProperties
  /** Whether the broker delivered it before. */
  redelivered: boolean
}

/** What `publish()` sends: any properties a foreign producer could set. */
export interface RawPublishOptions extends Partial<Omit<MessageProperties, 'headers' | 'deliveryMode'>> {
  headers?: Record<string, unknown>
  persistent?: boolean
  mandatory?: boolean
}

/** An in-memory broker for a test, and the tools to watch it. */
export interface TestBroker {
  /** The URL to register the plugin with: `memory://<name>`. */
  readonly url: string
  /**
   * Resolves once every message in flight has been handled: no method on its
   * way, no delivery unacknowledged, no queue about to deliver and no
   * message waiting in a wait queue for its retry. Messages in queues nobody
   * consumes (a dead-letter queue, a queue of a service not started) are at
   * rest. Rejects after `timeout` ms (5000 by default) with what is still
   * busy unknown: a handler that never returns keeps it from settling.
   */
  settled (options?: { timeout?: number }): Promise<void>
  /** The messages waiting in `queue` (`orders.dlq` for a dead-letter queue), oldest first; [] for a queue that does not exist. */
  messages (queue: string): QueuedMessage[]
  /**
   * Publishes as a foreign producer would, bypassing the plugin's envelope:
   * a Buffer or string as it is, anything else as JSON. Resolves once the
   * broker has taken it; rejects if the exchange does not exist.
   */
  publish (exchange: string, routingKey: string, body: unknown, options?: RawPublishOptions): Promise<void>
  /** Drops every connection as an outage would; the apps reconnect after their reconnectDelay. */
  disconnect (): void
  /** Closes every connection and deletes every queue and exchange, as a fresh broker. */
  reset (): Promise<void>
}

let created = 0

function encodeRaw (body: unknown): { content: Buffer, contentType: string | undefined } {
  if (Buffer.isBuffer(body)) return { content: body, contentType: undefined }
  if (typeof body === 'string') return { content: Buffer.from(body), contentType: undefined }
  return { content: Buffer.from(JSON.stringify(body)), contentType: 'application/json' }
}

/**
 * An in-memory broker with RabbitMQ's semantics, for tests that need no
 * server. `name` shares it with any app that registers with
 * `memory://<name>`; without one it gets a name of its own.
 *
 * ```ts
 * const broker = memoryBroker()
 * const app = Fastify()
 * await app.register(warren, { url: broker.url })
 * app.amqp.consume('orders.placed', handler)
 * await app.ready()
 * await app.amqp.publish('orders.placed', { id: 1 })
 * await broker.settled()
 * ```
 */
export function memoryBroker (name = `test-${process.pid}-${++created}`): TestBroker {
  const broker: MemoryBroker = brokerNamed(name)
  let connection: Promise<MemoryConnection> | undefined
  /** A confirm channel of its own per publish, on one connection: a 404 closes only that channel. */
  const channel = async (): Promise<MemoryChannel> => {
    connection ??= connectMemory(broker).then((conn) => {
      conn.on('error', () => {})
      conn.once('close', () => { connection = undefined })
      return conn
    })
    return await (await connection).createConfirmChannel()
  }

  return {
    url: `memory://${name}`,

    async settled ({ timeout = 5000 } = {}) {
      const deadline = Date.now() + timeout
      let quiet = 0
      // Idle on two turns in a row: a handler's ack may be about to publish the next stage.
      while (quiet < 2) {
        await new Promise((resolve) => setImmediate(resolve))
        quiet = broker.idle() ? quiet + 1 : 0
        if (quiet === 0 && Date.now() > deadline) throw new Error(`the memory broker "${name}" did not settle within ${timeout} ms`)
        if (quiet === 0) await new Promise((resolve) => setTimeout(resolve, 1))
      }
    },

    messages (queue) {
      const q = broker.queues.get(queue)
      if (q === undefined) return []
      return q.messages.map((m) => {
        let body: unknown
        try {
          body = decode(m.content, m.properties.contentType, m.properties.contentEncoding)
        } catch {
          body = undefined
        }
        return {
          body,
          content: m.content,
          exchange: m.exchange,
          routingKey: m.routingKey,
          headers: { ...m.properties.headers },
          properties: { ...m.properties },
          redelivered: m.redelivered
        }
      })
    },

    async publish (exchange, routingKey, body, options = {}) {
      const ch = await channel()
      const { content, contentType } = encodeRaw(body)
      try {
        await new Promise<void>((resolve, reject) => {
          let closedBy: Error | undefined
          ch.once('error', (err: Error) => { closedBy = err }) // the broker closed the channel: a missing exchange, say
          ch.publish(exchange, routingKey, content, { contentType, ...options } as Record<string, unknown>, (err: unknown) => {
            if (!err) return resolve()
            // The confirm fails as the channel closes, just before the channel tells why.
            queueMicrotask(() => reject(closedBy ?? err))
          })
        })
      } finally {
        await ch.close().catch(() => {})
      }
    },

    disconnect () {
      broker.disconnectAll()
    },

    async reset () {
      broker.disconnectAll(new Error('the memory broker was reset'))
      connection = undefined
      for (const name of [...broker.queues.keys()]) broker.removeQueue(broker.queues.get(name)!)
      for (const name of [...broker.exchanges.keys()]) {
        if (name !== '' && !name.startsWith('amq.')) broker.exchanges.delete(name)
      }
    }
  }
}
