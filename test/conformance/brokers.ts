import { randomBytes } from 'node:crypto'
import amqplib, { type ChannelModel } from 'amqplib'
import { AMQP_URL } from '../helpers'

/** What a golden case is given: a way to connect, and names no other case uses. */
export interface Broker {
  /** Which target this is (cases should not branch on it). */
  name: TargetName
  /** A new connection, closed (if still open) after the case. */
  connect (): Promise<ChannelModel>
  /** A queue or exchange name of its own, reported as `<prefix>` in observations and deleted after the case. */
  unique (prefix: string): string
}

export type TargetName = 'rabbitmq' | 'memory'

/** One case's broker, and what to do once the case is over. */
export interface Session {
  broker: Broker
  /** Every name `unique()` gave, with the prefix it stands for. */
  names: Map<string, string>
  /** Closes the case's connections and deletes what it declared. */
  close (): Promise<void>
}

/** A broker the suite can run cases against. */
export interface Target {
  name: TargetName
  /** Why this target cannot run here, or undefined. */
  unavailable (): Promise<string | undefined>
  open (): Promise<Session>
}

/** The surface of lib/transport/memory the suite uses. */
type MemoryModule = typeof import('../../lib/transport/memory/index')

/** Connections opened for a case, and the names it was given. */
function tracker (name: TargetName, open: () => Promise<ChannelModel>) {
  const connections: ChannelModel[] = []
  const names = new Map<string, string>()
  const broker: Broker = {
    name,
    async connect () {
      const conn = await open()
      // A case may provoke connection errors on purpose: never let one crash the run.
      conn.on('error', () => {})
      connections.push(conn)
      return conn
    },
    unique (prefix) {
      const unique = `cf.${prefix}.${randomBytes(4).toString('hex')}`
      names.set(unique, prefix)
      return unique
    }
  }
  const closeAll = async () => {
    for (const conn of connections) await conn.close().catch(() => {})
  }
  return { broker, names, closeAll }
}

export const rabbitmq: Target = {
  name: 'rabbitmq',
  async unavailable () { return undefined },
  async open () {
    const { broker, names, closeAll } = tracker('rabbitmq', () => amqplib.connect(AMQP_URL))
    return {
      broker,
      names,
      async close () {
        await closeAll()
        if (names.size === 0) return
        // Every name may be a queue or an exchange; deleting a missing one is not an error.
        const conn = await amqplib.connect(AMQP_URL)
        try {
          const ch = await conn.createChannel()
          ch.on('error', () => {})
          for (const name of names.keys()) {
            await ch.deleteQueue(name)
            await ch.deleteExchange(name)
          }
        } finally {
          await conn.close().catch(() => {})
        }
      }
    }
  }
}

/** The memory broker, imported on first use: a RabbitMQ-only run never loads it. */
let memoryModule: Promise<MemoryModule> | undefined
function loadMemory (): Promise<MemoryModule> {
  memoryModule ??= import('../../lib/transport/memory/index')
  return memoryModule
}

export const memory: Target = {
  name: 'memory',
  async unavailable () { return undefined },
  async open () {
    const { MemoryBroker, connectMemory } = await loadMemory()
    // A private broker per case: nothing to delete afterwards.
    const own = new MemoryBroker()
    // MemoryConnection offers the promise API the cases use (it lacks only updateSecret), so it is seen through amqplib's type.
    const { broker, names, closeAll } = tracker('memory', async () => await connectMemory(own) as unknown as ChannelModel)
    return { broker, names, close: closeAll }
  }
}

/** The targets CONFORMANCE_BROKERS asks for: rabbitmq, memory or both (the default). */
export function selectedTargets (env = process.env.CONFORMANCE_BROKERS ?? 'both'): Target[] {
  switch (env) {
    case 'rabbitmq': return [rabbitmq]
    case 'memory': return [memory]
    case 'both': case '': return [rabbitmq, memory]
    default: throw new Error(`CONFORMANCE_BROKERS must be rabbitmq, memory or both, not ${JSON.stringify(env)}`)
  }
}
