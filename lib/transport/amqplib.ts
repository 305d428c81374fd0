import { connect } from 'amqp-connection-manager'
import { createSecureContext } from 'node:tls'
import { credentials } from 'amqplib'
import { coalesceWrites } from './coalesce-writes'
import type { ConnectionManager, ConnectOptions, Transport } from './transport'

/**
 * The socket options amqplib hands to tls.connect() for amqps:// URLs: one
 * secure context for every attempt, so the key is decrypted once and a bad
 * one (a wrong passphrase, a key not of its certificate) throws here, before
 * any attempt.
 */
function socketTls (tls: ConnectOptions['tls']): Record<string, unknown> {
  if (tls === undefined) return {}
  const { servername, rejectUnauthorized, ...context } = tls
  const out: Record<string, unknown> = { secureContext: createSecureContext(context) }
  // Only what was given: tls.connect() reads an explicit `rejectUnauthorized: undefined` as false.
  if (servername !== undefined) out.servername = servername
  if (rejectUnauthorized !== undefined) out.rejectUnauthorized = rejectUnauthorized
  return out
}

/** @internal RabbitMQ over the network: amqplib, kept connected by amqp-connection-manager. */
export function amqplibTransport (urls: string[]): Transport {
  return {
    connect (o: ConnectOptions): ConnectionManager {
      const tls = socketTls(o.tls)
      const manager = connect(urls, {
        heartbeatIntervalInSeconds: o.heartbeat,
        reconnectTimeInSeconds: o.reconnectDelay / 1000,
        connectionOptions: {
          ...tls,
          noDelay: true, // without it every request/reply pays Nagle's ~40 ms
          timeout: o.connectTimeout,
          clientProperties: { connection_name: o.connectionName },
          // Without credentials amqplib sends PLAIN with the URL's user and password.
          ...(o.auth === 'external' ? { credentials: credentials.external() } : {})
        }
      })
      if (o.coalesceWrites !== false) {
        // First among the listeners, so the core's sees a connection already coalescing.
        manager.prependListener('connect', ({ connection }) => { coalesceWrites(connection, o.warn) })
      }
      return manager as unknown as ConnectionManager
    }
  }
}
