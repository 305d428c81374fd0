/*
 * The Express service the HTTP scenario loads: bench/http-server.ts in
 * Express 5, with the same IPC protocol, in a process of its own. The app is
 * set up as docs/hosts.md shows (express.json(), warrenMiddleware over a
 * client from createWarren(), warrenErrorHandler() last), and its three
 * routes differ only in what they do with the body: nothing (bare), a
 * confirmed publish through req.amqp (plugin), and the same through raw
 * amqplib (raw). It sends { port } when listening, and closes when the
 * parent disconnects.
 */
import { createServer } from 'node:http'
import express from 'express'
import { expressEntry, pluginClient, rawConnect, rawPublish } from './harness'

interface Config {
  url: string
  exchange: string
  queue: string
}

async function main (config: Config): Promise<void> {
  const { warrenMiddleware, warrenErrorHandler } = expressEntry()
  const { exchange, queue } = config
  // The options pluginApp() gives the plugin in http-server.ts: the same exchange, connection name and defaults.
  const warren = pluginClient(config.url, { exchange })
  await warren.start()
  const conn = await rawConnect(config.url)
  const ch = await conn.createConfirmChannel()

  const app = express()
  app.use(express.json(), warrenMiddleware(warren))
  app.post('/bare', async (_req, res) => {
    res.status(202).json({ accepted: true })
  })
  app.post('/plugin', async (req, res) => {
    await req.amqp.publish(queue, req.body)
    res.status(202).json({ accepted: true })
  })
  app.post('/raw', async (req, res) => {
    await rawPublish(ch, exchange, queue, req.body)
    res.status(202).json({ accepted: true })
  })
  app.use(warrenErrorHandler())

  const server = createServer(app)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  process.send!({ port: (server.address() as { port: number }).port })
  process.once('disconnect', () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeAllConnections()
    Promise.allSettled([closed, warren.close(), conn.close()]).then(() => process.exit(0), () => process.exit(1))
  })
}

process.once('message', (config: Config) => {
  main(config).catch((err) => {
    console.error(err)
    process.exit(1)
  })
})
