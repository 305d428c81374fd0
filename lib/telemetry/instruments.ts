import type * as Api from '@opentelemetry/api'
import type { Attributes } from './otel'

/** @internal The plugin's instruments on one meter. */
export interface Instruments {
  sent: Api.Counter
  consumed: Api.Counter
  operationDuration: Api.Histogram
  processDuration: Api.Histogram
  retried: Api.Counter
  deadLettered: Api.Counter
  rpcTimeouts: Api.Counter
}

/** @internal The gauges' readings, taken when the SDK collects. */
export interface Gauges {
  /** Publishes, requests and replies held in memory. */
  buffered: number
  /** Each connection by its role (`publish`, `consume`): open or not. */
  connections: Record<string, boolean>
}

/** Seconds, with the bucket boundaries the conventions advise for messaging durations. */
const SECONDS = {
  unit: 's',
  advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] }
}

/**
 * @internal The instruments, named as OpenTelemetry's messaging conventions
 * name them, and the plugin's own under `fastify_warren.*`.
 */
export function makeInstruments (meter: Api.Meter, common: Attributes, gauges: () => Gauges): Instruments {
  const buffered = meter.createObservableGauge('fastify_warren.publish.buffered', {
    unit: '{message}',
    description: 'Publishes, requests and replies held in memory until the broker can take them'
  })
  const connection = meter.createObservableGauge('fastify_warren.connection.state', {
    unit: '1',
    description: 'Whether each connection to the broker is open (1) or not (0)'
  })
  meter.addBatchObservableCallback((result) => {
    const g = gauges()
    result.observe(buffered, g.buffered, common)
    for (const [role, open] of Object.entries(g.connections)) {
      result.observe(connection, open ? 1 : 0, { ...common, 'fastify_warren.connection.role': role })
    }
  }, [buffered, connection])
  return {
    sent: meter.createCounter('messaging.client.sent.messages', {
      unit: '{message}',
      description: 'Messages this client tried to send (publish, forward, request, gather), failed ones with error.type'
    }),
    consumed: meter.createCounter('messaging.client.consumed.messages', {
      unit: '{message}',
      description: 'Deliveries handed to a consumer of this client'
    }),
    operationDuration: meter.createHistogram('messaging.client.operation.duration', {
      ...SECONDS,
      description: 'Seconds from a send until the broker confirmed it (or the reply came, for a request)'
    }),
    processDuration: meter.createHistogram('messaging.process.duration', {
      ...SECONDS,
      description: 'Seconds a delivery took from arrival to settlement'
    }),
    retried: meter.createCounter('fastify_warren.messages.retried', {
      unit: '{message}',
      description: 'Failed messages sent to a wait queue to be tried again'
    }),
    deadLettered: meter.createCounter('fastify_warren.messages.dead_lettered', {
      unit: '{message}',
      description: 'Messages moved to a dead-letter queue'
    }),
    rpcTimeouts: meter.createCounter('fastify_warren.rpc.timeouts', {
      unit: '{request}',
      description: 'Requests that got no reply within their timeout'
    })
  }
}
