/*
 * The RPC server of one implementation, in a process of its own so that the
 * client's CPU (in the bench's process) and the server's are measured apart.
 * Started by bench/scenarios/rpc.ts through startWorker(); answers 'start'
 * and 'stop' with its CPU time over the window between them. Each loads only
 * the client it runs (Fastify and the plugin for the plugin's server).
 */
import amqplib, { type ConsumeMessage } from 'amqplib'
import { cpuSince, serveCommands } from './child'
import type { MESSAGE } from './message'

type Message = typeof MESSAGE

export interface RpcServerConfig {
  impl: 'raw' | 'plugin' | 'rabbitmq-client'
  url: string
  exchange: string
  /** The routing key, and the name of the queue the server consumes. */
  key: string
  prefetch: number
}

/** What every server answers. */
export function answer (body: Message): { ok: boolean, id: number } {
  return { ok: true, id: body.id }
}

/**
 * Raw amqplib, as one would write it by hand: reply to reply_to with the
 * correlation id, then ack.
 */
async function rawServer (c: RpcServerConfig): Promise<() => Promise<void>> {
  const conn = await amqplib.connect(c.url, { noDelay: true })
  const ch = await conn.createChannel()
  await ch.assertQueue(c.key, { durable: true })
  await ch.bindQueue(c.key, c.exchange, c.key)
  await ch.prefetch(c.prefetch)
  await ch.consume(c.key, (msg: ConsumeMessage | null) => {
    if (!msg) return
    const reply = answer(JSON.parse(msg.content.toString('utf8')))
    ch.sendToQueue(msg.properties.replyTo, Buffer.from(JSON.stringify(reply)), {
      correlationId: msg.properties.correlationId,
      contentType: 'application/json'
    })
    ch.ack(msg)
  })
  return () => conn.close()
}

/** The plugin: a consumer whose handler's return value is the reply. */
async function pluginServer (c: RpcServerConfig): Promise<() => Promise<void>> {
  const { pluginApp } = await import('./harness')
  const app = await pluginApp(c.url, { exchange: c.exchange, connectionName: 'warren-bench-rpc-server' })
  await app.amqp.consume<Message>(c.key, (msg) => answer(msg.body), { prefetch: c.prefetch }).ready()
  return () => app.close()
}

/** rabbitmq-client: a Consumer that replies with reply(), as its documentation shows. */
async function rabbitServer (c: RpcServerConfig): Promise<() => Promise<void>> {
  const { rabbitConnect } = await import('./peers')
  const rabbit = await rabbitConnect(c.url, 'warren-bench-rpc-server')
  const consumer = rabbit.createConsumer({
    queue: c.key,
    queueOptions: { durable: true },
    qos: { prefetchCount: c.prefetch },
    queueBindings: [{ exchange: c.exchange, queue: c.key, routingKey: c.key }]
  }, async (req, reply) => {
    await reply(answer(req.body as Message))
  })
  consumer.on('error', (err) => console.error(err))
  await new Promise<void>((resolve) => consumer.once('ready', () => resolve()))
  return async () => {
    await consumer.close()
    await rabbit.close()
  }
}

const SERVERS = { raw: rawServer, plugin: pluginServer, 'rabbitmq-client': rabbitServer }

let close: () => Promise<void> = async () => {}
let window: { cpu: NodeJS.CpuUsage, start: number } | undefined

serveCommands({
  async ready (config: RpcServerConfig) {
    close = await SERVERS[config.impl](config)
  },
  start () {
    window = { cpu: process.cpuUsage(), start: performance.now() }
  },
  stop () {
    if (!window) throw new Error('stop before start')
    const result = { cpuUs: cpuSince(window.cpu), ms: performance.now() - window.start }
    window = undefined
    return result
  }
}, () => close())
