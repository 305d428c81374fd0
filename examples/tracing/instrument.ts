/*
 * Tracing for a service, loaded before it (`node --import tsx --import
 * ./examples/tracing/instrument.ts service.ts`): the OpenTelemetry Node SDK,
 * with @fastify/otel for the HTTP side. The services themselves are the
 * hello world's, unchanged: fastify-warren traces through @opentelemetry/api,
 * which stays a no-op until an SDK like this one is started.
 *
 * Spans go out over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (the launcher's
 * trace printer, or Jaeger), named by OTEL_SERVICE_NAME.
 */
import FastifyOtelInstrumentation from '@fastify/otel'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { NodeSDK } from '@opentelemetry/sdk-node'
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'

const sdk = new NodeSDK({
  // A short delay so that a trace shows up a moment after the request.
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 200 })],
  // Adds a span per request (and per hook) to every Fastify app created from now on.
  instrumentations: [new FastifyOtelInstrumentation({ registerOnInitialization: true })]
  // The default propagators are W3C trace context and baggage: fastify-warren
  // injects through them into each message's headers, and extracts from them.
})
sdk.start()

// The service closes its app on SIGINT/SIGTERM and then exits: send what is left first.
process.once('beforeExit', () => { sdk.shutdown().catch(() => {}) })
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.prependListener(signal, () => { sdk.shutdown().catch(() => {}) })
}
