/*
 * The Fastify service the HTTP scenario loads, in a process of its own so
 * that autocannon (in the parent) does not share its event loop. Three routes
 * that differ only in what they do with the body: nothing (the bare route), a
 * confirmed publish through the plugin, and the same through raw amqplib.
 * bench/http-express-server.ts is the same service in Express. Started by
 * bench/scenarios/http.ts with fork(); it sends { port } when listening, and
 * closes when the parent disconnects.
 */
import { pluginApp, rawConnect, rawPublish } from './harness'

interface Config {
  url: string
  exchange: string
  queue: string
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
