/*
 * `npm run example:tracing`: the hello world's two services, unchanged, each
 * started with the OpenTelemetry Node SDK (instrument.ts). One POST gives one
 * trace: @fastify/otel's request span in service 1, the publish span under
 * it, and service 2's process span under that.
 *
 * Without OTEL_EXPORTER_OTLP_ENDPOINT the spans go to a small receiver in this
 * launcher, which prints each trace as a tree. With it (Jaeger:
 * OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318) they go there instead.
 */
import { join } from 'node:path'
import { launch } from '../common/launch'
import { startTracePrinter } from './trace-printer'

async function main (): Promise<void> {
  let endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT
  if (endpoint === undefined) {
    endpoint = (await startTracePrinter()).endpoint
    console.log('Each trace with a message in it is printed here as a tree, a moment after it ends.')
  } else {
    console.log(`Spans go to ${endpoint} (OTLP/HTTP).`)
  }
  const preload = join(__dirname, 'instrument.ts')
  const otel = (name: string): Record<string, string> => ({ OTEL_SERVICE_NAME: name, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint })
  launch(join(__dirname, '..', 'hello-world'), [
    { name: 'service2', file: 'service2.ts', port: 3001, preload, env: otel('service2') },
    { name: 'service1', file: 'service1.ts', port: 3000, preload, env: otel('service1') }
  ], (url) => `curl -X POST ${url('service1')}/process -H 'content-type: application/json' -d '{"text":"hello world"}'`)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
