import type { Broker } from './brokers'
import { routingCases } from './cases-routing'
import { deadLetterCases } from './cases-dead-letter'
import { deliveryCases } from './cases-delivery'
import { lifecycleCases } from './cases-lifecycle'
import { priorityCases } from './cases-priority'
import { consumerCases } from './cases-consumers'
import { queueTypeCases } from './cases-queue-types'

/**
 * A golden case: something a client does, and what it sees, as plain JSON.
 * The suite runs `run` on RabbitMQ and on the memory broker; both must see
 * `expect` (written from RabbitMQ 3.10's behaviour), with names from
 * `unique(prefix)` shown as `<prefix>`.
 */
export interface Case {
  /** A sentence about the behaviour. */
  name: string
  run: (b: Broker) => Promise<unknown>
  expect: unknown
}

/** Every golden case, by group. */
export const groups: Record<string, Case[]> = {
  routing: routingCases,
  'dead-lettering': deadLetterCases,
  delivery: deliveryCases,
  lifecycle: lifecycleCases,
  priority: priorityCases,
  consumers: consumerCases,
  'queue types': queueTypeCases
}

export const cases: Case[] = Object.values(groups).flat()
