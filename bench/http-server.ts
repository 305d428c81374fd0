/*
 * The HTTP service the HTTP scenario loads, in a process of its own so that
 * autocannon (in the parent) does not share its event loop. Three routes that
 * differ only in what they do with the body: nothing (the bare route), a
 * confirmed publish through the plugin, and the same through raw amqplib.
 * Started by bench/scenarios/http.ts with fork(); it sends { port } when listening.
 */
import type { ConfirmChannel } from 'amqplib'
import { pluginApp, rawConnect } from './harness'

interface Config {
  url: string
  exchange: string
  queue: string
}

function rawPublish (ch: ConfirmChannel, exchange: string, key: string, body: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    ch.publish(exchange, key, Buffer.from(JSON.stringify(body)), { persistent: true, mandatory: true, contentType: 'application/json' }, (err) => {
      if (err) reject(err)
      else resolve()
    })
  })
}

async function main (config: Config): Promise<void> {
  const app = await pluginApp(config.url, { exchange: config.exchange }, { ready: false })
  const conn = await rawConnect(config.url)
  const ch = await conn.createConfirmChannel()
  const { exchange, queue } = config

  app.post('/bare', async (_request, reply) => {
    reply.code(202)
    return { accepted: true }
  })
  app.post('/plugin', async (request, reply) => {
    await app.amqp.publish(queue, request.body)
    reply.code(202)
    return { accepted: true }
  })
  app.post('/raw', async (request, reply) => {
    await rawPublish(ch, exchange, queue, request.body)
    reply.code(202)
    return { accepted: true }
  })

  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  process.send!({ port: Number(new URL(address).port) })
  process.once('disconnect', () => {
    Promise.allSettled([app.close(), conn.close()]).then(() => process.exit(0), () => process.exit(1))
  })
}

process.once('message', (config: Config) => {
  main(config).catch((err) => {
    console.error(err)
    process.exit(1)
  })
})
