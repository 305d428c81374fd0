/*
 * The errors the in-memory broker raises, shaped as amqplib shapes the ones a
 * real RabbitMQ sends: a channel closed by the server carries `code`,
 * `classId` and `methodId`, and its message quotes RabbitMQ's reply text.
 */

/** AMQP reply codes the broker closes channels with, and their names as amqplib prints them. */
const REPLY_NAMES: Record<number, string> = {
  403: 'ACCESS-REFUSED',
  404: 'NOT-FOUND',
  405: 'RESOURCE-LOCKED',
  406: 'PRECONDITION-FAILED',
  541: 'INTERNAL-ERROR'
}

/** @internal An AMQP method: its name as amqplib prints it, its class and method ids. */
export interface Method {
  name: string
  classId: number
  methodId: number
}

/** @internal The methods the memory broker answers, by amqplib's names. */
export const METHODS = {
  exchangeDeclare: { name: 'ExchangeDeclare', classId: 40, methodId: 10 },
  exchangeDelete: { name: 'ExchangeDelete', classId: 40, methodId: 20 },
  exchangeBind: { name: 'ExchangeBind', classId: 40, methodId: 30 },
  exchangeUnbind: { name: 'ExchangeUnbind', classId: 40, methodId: 40 },
  queueDeclare: { name: 'QueueDeclare', classId: 50, methodId: 10 },
  queueBind: { name: 'QueueBind', classId: 50, methodId: 20 },
  queuePurge: { name: 'QueuePurge', classId: 50, methodId: 30 },
  queueDelete: { name: 'QueueDelete', classId: 50, methodId: 40 },
  queueUnbind: { name: 'QueueUnbind', classId: 50, methodId: 50 },
  basicQos: { name: 'BasicQos', classId: 60, methodId: 10 },
  basicConsume: { name: 'BasicConsume', classId: 60, methodId: 20 },
  basicCancel: { name: 'BasicCancel', classId: 60, methodId: 30 },
  basicPublish: { name: 'BasicPublish', classId: 60, methodId: 40 },
  basicGet: { name: 'BasicGet', classId: 60, methodId: 70 },
  basicAck: { name: 'BasicAck', classId: 60, methodId: 80 },
  basicReject: { name: 'BasicReject', classId: 60, methodId: 90 },
  basicNack: { name: 'BasicNack', classId: 60, methodId: 120 },
  confirmSelect: { name: 'ConfirmSelect', classId: 85, methodId: 10 }
} satisfies Record<string, Method>

/**
 * @internal
 * Raised inside the broker when an operation must close the channel that
 * asked for it: the reply code and RabbitMQ's reply text, e.g. 404 and
 * "NOT_FOUND - no queue 'q' in vhost '/'".
 */
export class ChannelFault extends Error {
  readonly code: number
  constructor (code: number, text: string) {
    super(text)
    this.code = code
  }
}

/** @internal 404 NOT_FOUND for a missing queue. */
export function noQueue (name: string): ChannelFault {
  return new ChannelFault(404, `NOT_FOUND - no queue '${name}' in vhost '/'`)
}

/** @internal 404 NOT_FOUND for a missing exchange. */
export function noExchange (name: string): ChannelFault {
  return new ChannelFault(404, `NOT_FOUND - no exchange '${name}' in vhost '/'`)
}

/** @internal 406 PRECONDITION_FAILED with `detail` after the prefix. */
export function preconditionFailed (detail: string): ChannelFault {
  return new ChannelFault(406, `PRECONDITION_FAILED - ${detail}`)
}

function closeText (fault: ChannelFault): string {
  return `${fault.code} (${REPLY_NAMES[fault.code] ?? 'UNKNOWN'}) with message "${fault.message}"`
}

/** What amqplib adds to an Error for a server close. */
export interface ServerCloseError extends Error {
  code: number
  classId: number
  methodId: number
}

function shaped (message: string, fault: ChannelFault, method: Method): ServerCloseError {
  return Object.assign(new Error(message), { code: fault.code, classId: method.classId, methodId: method.methodId })
}

/** @internal What the channel emits as 'error' when the broker closes it, as amqplib words it. */
export function channelClosedError (fault: ChannelFault, method: Method): ServerCloseError {
  return shaped(`Channel closed by server: ${closeText(fault)}`, fault, method)
}

/** @internal What the operation that closed the channel rejects with, as amqplib words it. */
export function operationFailedError (fault: ChannelFault, method: Method): ServerCloseError {
  return shaped(`Operation failed: ${method.name}; ${closeText(fault)}`, fault, method)
}

/**
 * The error amqplib throws for an operation on a closed channel or
 * connection; code that tells it apart reads its `name`.
 */
export class IllegalOperationError extends Error {
  override name = 'IllegalOperationError'
}
