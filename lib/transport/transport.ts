import type { EventEmitter } from 'node:events'
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls'
import type { ChannelModel } from 'amqplib'

/*
 * The seam between the core and a broker. The core asks a transport for a
 * connection manager: one that connects, tells of every (re)connection and
 * loss, and reconnects after the wait the core sets. amqplib (through
 * amqp-connection-manager) satisfies it for amqp:// and amqps:// URLs, the
 * in-memory broker for memory:// ones. Channels keep amqplib's promise API,
 * which the memory broker implements too.
 */

/**
 * @internal
 * A connection kept alive. Emits `connect` ({ connection, url }) after every
 * (re)connection, `disconnect` ({ err }) when it is lost, `connectFailed`
 * ({ err, url }) for an attempt that failed, `blocked` ({ reason }) and
 * `unblocked`. After `disconnect` or `connectFailed` it waits
 * `reconnectTimeInSeconds`, read right after the event, and tries again.
 */
export interface ConnectionManager extends EventEmitter {
  /** The live connection, if any. */
  readonly connection: ChannelModel | undefined
  reconnectTimeInSeconds: number
  /** Closes the connection and stops reconnecting. */
  close (): Promise<void>
}

/** @internal What a transport needs to connect. */
export interface ConnectOptions {
  /** Seconds; 0 for none. */
  heartbeat: number
  /** The first wait before reconnecting, in milliseconds. */
  reconnectDelay: number
  /** How long one attempt may take, in milliseconds. */
  connectTimeout: number
  /** Shown in the broker's connection list. */
  connectionName: string
  /** For amqps:// URLs: passed to Node's tls.connect(). */
  tls?: Pick<TlsConnectionOptions, 'ca' | 'cert' | 'key' | 'passphrase' | 'pfx' | 'servername' | 'rejectUnauthorized'>
  /** The SASL mechanism: PLAIN with the URL's user and password, or EXTERNAL (the client certificate). @default 'plain' */
  auth?: 'plain' | 'external'
  /** Whether amqplib's writes go out one writev per turn of its muxer (coalesce-writes.ts). @default true */
  coalesceWrites?: boolean
  /** Where the transport reports what should be logged as a warning (the core's log). */
  warn?: (fields: Record<string, unknown>, message: string) => void
}

/** @internal Makes connection managers for one plugin instance's URLs. */
export interface Transport {
  connect (options: ConnectOptions): ConnectionManager
}

/** @internal Whether `url` names the in-memory broker. */
export function isMemoryUrl (url: string): boolean {
  return url.startsWith('memory:')
}

/**
 * @internal
 * The transport for `urls`: the in-memory broker for memory:// (loaded only
 * then), amqplib otherwise. One per plugin instance, shared by its
 * connections, so that a private memory broker is the same for both.
 */
export function transportFor (urls: string[]): Transport {
  if (isMemoryUrl(urls[0])) {
    const { memoryTransport } = require('./memory-transport') as typeof import('./memory-transport')
    return memoryTransport(urls[0])
  }
  const { amqplibTransport } = require('./amqplib') as typeof import('./amqplib')
  return amqplibTransport(urls)
}
