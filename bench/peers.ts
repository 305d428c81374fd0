/*
 * The peers the bench measures beside raw amqplib and the plugin:
 * rabbitmq-client (its Publisher, Consumer and RPCClient) and
 * amqp-connection-manager's ChannelWrapper (publish and consume; it has no
 * RPC). Each is connected the way its documentation shows, with noDelay as
 * the plugin and the raw side have it, and given the same guarantees as the
 * others: the message encoded to JSON per publish, persistent, mandatory,
 * publisher confirms, through the same durable topic exchange.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { connect as acmConnect, type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager'
import { Connection, type Publisher } from 'rabbitmq-client'
import { MESSAGE } from './harness'

/** The implementations, in the order of the peers table. */
export const IMPLS = ['raw', 'plugin', 'rabbitmq-client', 'channel-wrapper'] as const
export type Impl = typeof IMPLS[number]

/** A package's installed version, from the package.json above its entry point (its exports may not list package.json). */
function version (pkg: string): string {
  try {
    for (let dir = dirname(require.resolve(pkg)); dir !== dirname(dir); dir = dirname(dir)) {
      const file = join(dir, 'package.json')
      if (!existsSync(file)) continue
      const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: string, version: string }
      if (json.name === pkg) return json.version
    }
  } catch {}
  return '?'
}

/** The peers' versions, as installed. */
export const PEER_VERSIONS: Record<string, string> = {
  amqplib: version('amqplib'),
  'rabbitmq-client': version('rabbitmq-client'),
  'amqp-connection-manager': version('amqp-connection-manager')
}

/** What the peers table calls each implementation. */
export const IMPL_LABELS: Record<Impl, string> = {
  raw: `raw amqplib ${PEER_VERSIONS.amqplib}`,
  plugin: 'this plugin',
  'rabbitmq-client': `rabbitmq-client ${PEER_VERSIONS['rabbitmq-client']}`,
  'channel-wrapper': `amqp-connection-manager ${PEER_VERSIONS['amqp-connection-manager']} ChannelWrapper`
}

/** A rabbitmq-client connection with noDelay, as the others have it; its errors are thrown into the next call, not the process. */
export async function rabbitConnect (url: string, name = 'warren-bench-rabbitmq-client'): Promise<Connection> {
  const rabbit = new Connection({ url, noDelay: true, connectionName: name })
  rabbit.on('error', () => {})
  await rabbit.onConnect(10_000)
  return rabbit
}

/** An amqp-connection-manager connection with noDelay, connected. */
export async function acmConnectTo (url: string): Promise<AmqpConnectionManager> {
  const manager = acmConnect([url], { connectionOptions: { noDelay: true } })
  await manager.connect({ timeout: 10_000 })
  return manager
}

/**
 * rabbitmq-client's publisher with confirms (`confirm: true`); it encodes a
 * non-Buffer body to JSON itself and sets content_type, and `durable: true`
 * is its name for delivery mode 2. Returned messages are counted.
 */
export function rabbitPublisher (rabbit: Connection): { pub: Publisher, returned: () => number } {
  let returned = 0
  const pub = rabbit.createPublisher({ confirm: true, maxAttempts: 1, onReturn: () => { returned++ } })
  return { pub, returned: () => returned }
}

/** One confirmed publish through rabbitmq-client, the same guarantees as the others. */
export function rabbitPublish (pub: Publisher, exchange: string, key: string, body: unknown = MESSAGE): Promise<void> {
  return pub.send({ exchange, routingKey: key, mandatory: true, durable: true }, body)
}

/**
 * A ChannelWrapper on a confirm channel (its default) with `json: true`, so
 * that it encodes each body itself; returned messages are counted.
 */
export async function wrapperPublisher (manager: AmqpConnectionManager): Promise<{ cw: ChannelWrapper, returned: () => number }> {
  let returned = 0
  const cw = manager.createChannel({
    confirm: true,
    json: true,
    setup: async (ch: import('amqplib').ConfirmChannel) => { ch.on('return', () => { returned++ }) }
  })
  await cw.waitForConnect()
  return { cw, returned: () => returned }
}

/** One confirmed publish through a ChannelWrapper: resolves on the broker's confirm. */
export function wrapperPublish (cw: ChannelWrapper, exchange: string, key: string, body: unknown = MESSAGE): Promise<boolean> {
  return cw.publish(exchange, key, body, { persistent: true, mandatory: true, contentType: 'application/json' })
}
