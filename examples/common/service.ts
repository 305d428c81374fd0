/*
 * What every example service shares, so each example file shows only its pattern:
 * where the broker is, which port to listen on, and a graceful shutdown.
 */
import type { FastifyInstance } from 'fastify'
import { resolve } from 'node:path'
import closeWithGrace from 'close-with-grace'

/** The broker every example connects to; tests point it at a virtual host of their own. */
export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'

/** Fastify's logger settings for an example service. */
export const logger = { level: process.env.LOG_LEVEL ?? 'info' }

/**
 * Adds `GET /health` (the launcher and the tests wait for it), closes the app
 * on SIGINT/SIGTERM (consumers drain first; a second signal exits at once) and
 * listens on `PORT` (or `defaultPort`) at `HOST` (127.0.0.1 by default).
 */
export async function serve (app: FastifyInstance, defaultPort: number): Promise<void> {
  app.get('/health', async () => ({ ok: true }))
  // close-with-grace exits 0 once the app has closed, 1 on a second signal or
  // after `delay`, which outlasts the plugin's closeTimeout (30 s).
  closeWithGrace({ delay: 35_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal }, 'closing')
    await app.close()
  })
  await app.listen({ port: Number(process.env.PORT ?? defaultPort), host: process.env.HOST ?? '127.0.0.1' })
}

/** Whether `filename` is the script node was started with (not a module a test imports). */
export function isMain (filename: string): boolean {
  return process.argv[1] !== undefined && resolve(process.argv[1]) === filename
}

/** Runs an example's `main()`, exiting with code 1 (and the error) if it fails to start. */
export function run (main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
