/*
 * An in-memory RabbitMQ with amqplib's promise API, for tests and local
 * runs without a broker: `connectMemory(new MemoryBroker())`.
 */
export { brokerNamed, MemoryBroker, type MemoryBrokerOptions } from './broker'
export { MemoryChannel } from './channel'
export { connectMemory, MemoryConnection, type MemoryConnectOptions } from './connection'
export type { MemoryMessage } from './consumer'
export type { MessageProperties } from './codec'
export { IllegalOperationError } from './errors'
