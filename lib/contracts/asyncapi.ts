import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { ExchangeType } from '../core/types'
import type { Definition, Schema } from './define'

/*
 * The AsyncAPI 3.0 document of one service: the broker it talks to, a
 * channel per exchange and routing key it sends or receives on, a channel per
 * queue it consumes (with its retry and dead-letter queues), its operations
 * (receive for each consumer, send for each definition it publishes), the
 * messages with their payloads as JSON Schema, and the AMQP bindings (0.3.0).
 */

const BINDING_VERSION = '0.3.0'

/** What the document needs to know of one consumer. */
export interface ConsumerDescription {
  queue: string
  exclusive: boolean
  /** Its queue's type: its wait and dead-letter queues are of the same; a stream has none. */
  queueType: 'classic' | 'quorum' | 'stream'
  exchange: string
  exchangeType: ExchangeType
  routingKeys: string[]
  queueArguments: Record<string, unknown> | undefined
  prefetch: number
  attempts: number
  deadLetter: string | undefined
  next: { exchange: string, routingKey: string, definition?: Extract<Definition, { kind: 'message' }> } | undefined
  definition: Definition | undefined
  body: Schema | undefined
  headers: Schema | undefined
}

/** What the document needs to know of the service. */
export interface ServiceDescription {
  title: string
  version: string
  description: string | undefined
  /** The first broker URL (its credentials are never used). */
  url: string
  /** The plugin's own exchange, and the type of every exchange it declares. */
  exchange: string
  exchanges: Record<string, ExchangeType>
  consumers: ConsumerDescription[]
  publishes: Definition[]
  /** The schemas JSON Schemas may $ref by $id (app.addSchema()). */
  shared: Record<string, unknown>
}

type Json = Record<string, any>

/** A component key AsyncAPI accepts: letters, digits, `.`, `_` and `-`. */
function key (text: string): string {
  const clean = text.replace(/[^A-Za-z0-9._-]+/g, '_')
  return clean === '' ? '_' : clean
}

/** A JSON copy of a JSON Schema: symbols (TypeBox's) and functions left out. */
function plain (schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema))
}

/**
 * @internal
 * A schema as JSON Schema for the document: a JSON Schema as it is, a
 * Standard Schema through its JSON Schema export (the input side: what goes
 * on the wire), if it has one. Otherwise an empty schema and a note saying why.
 */
export function payloadOf (schema: Schema): { schema: unknown, note?: string } {
  if (typeof schema === 'boolean') return { schema }
  const standard = (schema as Partial<StandardSchemaV1>)['~standard'] as (StandardSchemaV1['~standard'] & { jsonSchema?: { input?: (o: object) => unknown } }) | undefined
  if (standard === undefined) return { schema: plain(schema) }
  const input = standard.jsonSchema?.input
  if (typeof input === 'function') {
    try {
      const converted = plain(input.call(standard.jsonSchema, { target: 'draft-07' })) as Json
      delete converted.$schema
      return { schema: converted }
    } catch (err) {
      return { schema: {}, note: `The ${standard.vendor} schema could not be converted to JSON Schema: ${(err as Error).message}` }
    }
  }
  return {
    schema: {},
    note: `A ${standard.vendor} schema without a JSON Schema export (Standard JSON Schema); ` +
      (standard.vendor === 'valibot' ? 'wrap it with toStandardJsonSchema() from @valibot/to-json-schema to document it.' : 'its payload is not described.')
  }
}

/** Rewrites `$ref`s to shared schemas (`id#/path` or `id`) into refs to the document's components. */
function rewriteRefs (value: unknown, ids: Map<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteRefs(v, ids))
  if (value === null || typeof value !== 'object') return value
  const out: Json = {}
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string') {
      const [id, fragment = ''] = v.split('#')
      const target = ids.get(id)
      out[k] = target === undefined ? v : `#/components/schemas/${target}${fragment}`
    } else if (k === '$id') {
      continue // the document addresses schemas by their place, not by $id
    } else {
      out[k] = rewriteRefs(v, ids)
    }
  }
  return out
}

function serverOf (url: string): { server: Json, vhost: string } {
  const u = new URL(url)
  const secure = u.protocol === 'amqps:'
  const port = u.port === '' ? (secure ? '5671' : '5672') : u.port
  const path = decodeURIComponent(u.pathname.slice(1))
  const vhost = path === '' ? '/' : path
  const server: Json = { host: `${u.hostname}:${port}`, protocol: secure ? 'amqps' : 'amqp', description: 'RabbitMQ' }
  if (vhost !== '/') server.pathname = `/${encodeURIComponent(vhost)}`
  return { server, vhost }
}

/** @internal The AsyncAPI 3.0 document of the service described. */
export function asyncApiDocument (service: ServiceDescription): Json {
  const { server, vhost } = serverOf(service.url)
  const channels: Json = {}
  const operations: Json = {}
  const messages: Json = {}
  const schemas: Json = {}
  const ids = new Map<string, string>()
  for (const id of Object.keys(service.shared)) ids.set(id, key(id))
  for (const [id, shared] of Object.entries(service.shared)) schemas[ids.get(id)!] = rewriteRefs(plain(shared), ids)

  const exchangeBinding = (name: string, type: ExchangeType | 'default'): Json => ({
    is: 'routingKey',
    exchange: { name, type, durable: true, autoDelete: false, vhost },
    bindingVersion: BINDING_VERSION
  })
  const exchangeType = (name: string): ExchangeType | 'default' => name === '' ? 'default' : service.exchanges[name] ?? 'topic'

  /** The channel of an exchange and routing key (made once). */
  const routeChannel = (exchange: string, routingKey: string, type?: ExchangeType): string => {
    const id = key(`${exchange === '' ? 'default' : exchange}.${routingKey === '' ? '_' : routingKey}`)
    channels[id] ??= {
      address: routingKey,
      title: `${routingKey || '(no key)'} on ${exchange === '' ? 'the default exchange' : `exchange ${exchange}`}`,
      messages: {},
      bindings: { amqp: exchangeBinding(exchange, type ?? exchangeType(exchange)) }
    }
    return id
  }

  /** A message component, by name, with its payload and headers as JSON Schema. */
  const message = (name: string, spec: { body?: Schema, headers?: Schema, summary?: string, description?: string, request?: boolean, persistent: boolean }): string => {
    const id = key(name)
    if (messages[id] !== undefined) return id
    const m: Json = { name: id, contentType: 'application/json' }
    if (spec.summary !== undefined) m.summary = spec.summary
    const notes: string[] = spec.description === undefined ? [] : [spec.description]
    if (spec.body === undefined) {
      notes.push('No schema: the body is not validated.')
    } else {
      const payload = payloadOf(spec.body)
      m.payload = rewriteRefs(payload.schema, ids)
      if (payload.note !== undefined) notes.push(payload.note)
    }
    if (spec.headers !== undefined) {
      const headers = payloadOf(spec.headers)
      m.headers = rewriteRefs(headers.schema, ids)
      if (headers.note !== undefined) notes.push(headers.note)
    }
    if (spec.request === true) m.correlationId = { location: '$message.header#/correlation_id', description: 'The reply carries the request\'s correlation id.' }
    if (notes.length > 0) m.description = notes.join(' ')
    m.bindings = { amqp: { messageType: name, bindingVersion: BINDING_VERSION } }
    messages[id] = m
    return id
  }

  const ref = (where: string) => ({ $ref: where })

  /** The reply channel of a request (direct reply-to: no fixed address), and its operation's reply. */
  const replyOf = (def: Extract<Definition, { kind: 'request' }>): Json => {
    const replyMessage = message(`${def.routingKey}.reply`, { body: def.reply, persistent: false })
    const channelId = key(`${def.routingKey}.reply`)
    channels[channelId] ??= {
      address: null,
      title: `Replies to ${def.routingKey}`,
      description: 'RabbitMQ direct reply-to: each reply goes to the address in the request\'s reply_to.',
      messages: { [replyMessage]: ref(`#/components/messages/${replyMessage}`) }
    }
    return {
      address: { location: '$message.header#/reply_to', description: 'amq.rabbitmq.reply-to: RabbitMQ direct reply-to' },
      channel: ref(`#/channels/${channelId}`),
      messages: [ref(`#/channels/${channelId}/messages/${replyMessage}`)]
    }
  }

  for (const c of service.consumers) {
    const def = c.definition
    const name = def !== undefined ? def.routingKey : `${c.queue || c.routingKeys.join(',')}.message`
    const isRequest = def?.kind === 'request'
    const messageId = message(name, {
      body: c.body,
      headers: c.headers,
      summary: def?.summary,
      description: def?.description,
      request: isRequest,
      persistent: !isRequest
    })
    // The queue it consumes, with its bindings: where the messages arrive.
    const queueId = key(`queue.${c.queue || `exclusive.${c.routingKeys.join(',')}`}`)
    const queueBinding: Json = {
      is: 'queue',
      queue: { name: c.queue, durable: !c.exclusive, exclusive: c.exclusive, autoDelete: c.exclusive, vhost },
      bindingVersion: BINDING_VERSION
    }
    if (c.queueArguments !== undefined) queueBinding['x-arguments'] = plain(c.queueArguments)
    const stream = c.queueType === 'stream'
    const kind = stream ? 'A stream. ' : c.queueType === 'quorum' ? 'A quorum queue. ' : ''
    const retry = stream
      ? 'Every consumer reads every message from its offset. '
      : c.attempts > 1
        ? `Tried up to ${c.attempts} times: a failed message waits in ${c.exclusive ? 'a server-named wait queue' : `${c.queue}.retry.<n>`} (a per-message TTL), then comes back to this queue only. `
        : 'Tried once. '
    const dead = stream
      ? 'A message that fails is logged and passed over: a stream has no retries nor dead-letter queue.'
      : c.deadLetter !== undefined
        ? `Then it goes to the dead-letter queue ${c.deadLetter}, with the reason and the error in x-warren-* headers; so does a message that fails its schema or does not decode.`
        : 'Then it is rejected (no dead-letter queue).'
    channels[queueId] = {
      address: c.queue || null,
      title: c.exclusive ? `An exclusive queue bound to ${c.routingKeys.join(', ')}` : `Queue ${c.queue}`,
      description: `${kind}Bound to exchange ${c.exchange === '' ? '(default)' : c.exchange} (${c.exchangeType}) with ${c.routingKeys.map((k) => `"${k}"`).join(', ')}. ${isRequest ? 'Requests are answered, never retried; another message on this queue is handled as a message: ' : ''}${retry}${dead}`,
      messages: { [messageId]: ref(`#/components/messages/${messageId}`) },
      bindings: { amqp: queueBinding }
    }
    for (const routingKey of c.routingKeys) {
      if (c.exchange === '') continue
      const route = routeChannel(c.exchange, routingKey, c.exchangeType)
      channels[route].messages[messageId] = ref(`#/components/messages/${messageId}`)
    }
    const operation: Json = {
      action: 'receive',
      channel: ref(`#/channels/${queueId}`),
      messages: [ref(`#/channels/${queueId}/messages/${messageId}`)],
      bindings: { amqp: { ack: true, bindingVersion: BINDING_VERSION } }
    }
    if (def?.summary !== undefined) operation.summary = def.summary
    if (def?.kind === 'request') operation.reply = replyOf(def)
    operations[key(`receive.${c.queue || name}`)] = operation
    if (c.next?.definition !== undefined) send(c.next.definition, c.next.exchange)
    if (c.deadLetter !== undefined) {
      const dlq = key(`queue.${c.deadLetter}`)
      channels[dlq] ??= {
        address: c.deadLetter,
        title: `Dead-letter queue ${c.deadLetter}`,
        description: `Messages of ${c.queue || 'the exclusive queue'} that will not be tried again, declared when the first one fails. Headers: x-warren-reason (handler-failed, not-retryable, undecodable, invalid, forward-failed, unencodable-result, invalid-result), x-warren-error-message, x-warren-error-code, x-warren-attempts, x-warren-queue, x-warren-exchange, x-warren-routing-key, x-warren-failed-at, x-warren-validation.`,
        messages: { [messageId]: ref(`#/components/messages/${messageId}`) },
        bindings: { amqp: { is: 'queue', queue: { name: c.deadLetter, durable: true, exclusive: false, autoDelete: false, vhost }, bindingVersion: BINDING_VERSION } }
      }
      if (c.queueType === 'quorum') channels[dlq].bindings.amqp['x-arguments'] ??= { 'x-queue-type': 'quorum' }
    }
  }

  for (const def of service.publishes) send(def, def.exchange ?? service.exchange)

  function send (def: Definition, exchange: string): void {
    const route = routeChannel(exchange, def.routingKey)
    const isRequest = def.kind === 'request'
    const messageId = message(def.routingKey, { body: def.body, headers: def.headers, summary: def.summary, description: def.description, request: isRequest, persistent: !isRequest })
    channels[route].messages[messageId] = ref(`#/components/messages/${messageId}`)
    const operation: Json = {
      action: 'send',
      channel: ref(`#/channels/${route}`),
      messages: [ref(`#/channels/${route}/messages/${messageId}`)],
      bindings: { amqp: { deliveryMode: isRequest ? 1 : 2, mandatory: true, timestamp: true, bindingVersion: BINDING_VERSION } }
    }
    if (def.summary !== undefined) operation.summary = def.summary
    if (def.kind === 'request') operation.reply = replyOf(def)
    operations[key(`send.${def.routingKey}`)] = operation
  }

  const info: Json = { title: service.title, version: service.version }
  if (service.description !== undefined) info.description = service.description
  const doc: Json = {
    asyncapi: '3.0.0',
    info,
    defaultContentType: 'application/json',
    servers: { rabbitmq: server },
    channels,
    operations,
    components: { messages }
  }
  if (Object.keys(schemas).length > 0) doc.components.schemas = schemas
  return doc
}
