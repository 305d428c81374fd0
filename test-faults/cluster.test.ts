import t, { type Test } from 'tap'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import warren, { type ConsumeOptions, type WarrenMessage } from '../lib/index'
import { uniqueName, waitFor } from '../test/helpers'
import { canStartNodes, startCluster, type RabbitNode } from './helpers/nodes'

/*
 * A three-node cluster of the test's own (never the shared broker on 5672),
 * and a quorum queue: `kill -9` hits the node that both the publishing app
 * and the consuming app are connected to, while 5,000 confirmed messages go
 * out at a steady rate. Nothing confirmed may be lost, and both apps must
 * move to a surviving node and resume by themselves: with the defaults, with
 * retries through (quorum) wait queues, and with a reconnection fast enough
 * to land inside the queue's leader election (which left a publishing
 * channel nacked for good before channels were reopened after a run of
 * nacks). The figures go to the TAP comments and to
 * $FAULT_REPORT_DIR/cluster-failover.json (default: the temp directory).
 */

t.setTimeout(900_000)

const canStart = canStartNodes()
const skip = !canStart && 'RabbitMQ\'s scripts (/usr/lib/rabbitmq/bin) are not on this machine: no nodes of the test\'s own'

/** One cluster for the whole file: starting one takes half a minute. */
const cluster: Promise<RabbitNode[]> | undefined = canStart ? startCluster(t, 'fo', 3) : undefined
cluster?.catch(() => {}) // reported by the first test that awaits it

const TOTAL = 5000
const RATE = 500 // per second
const IN_FLIGHT = 100
const KILL_AFTER = 1500 // confirmed
/** How long the publishing may take in all, rejected publishes tried again included. */
const PUBLISHED_WITHIN = 120_000
/** How long every confirmed message has to be handled, once all are confirmed. */
const HANDLED_WITHIN = 120_000

const REPORT = join(process.env.FAULT_REPORT_DIR ?? tmpdir(), 'cluster-failover.json')

/** Adds this run's figures to the report file. */
function report (name: string, figures: object): void {
  mkdirSync(process.env.FAULT_REPORT_DIR ?? tmpdir(), { recursive: true })
  let all: Record<string, unknown> = {}
  try {
    all = JSON.parse(readFileSync(REPORT, 'utf8'))
  } catch {}
  all[name] = { ...figures, at: new Date().toISOString() }
  writeFileSync(REPORT, JSON.stringify(all, null, 2) + '\n')
}

/** What an app's log said about its connections, with the time it said it, and what health() said then. */
interface LogEvent { at: number, msg: string, connection?: string, url?: string, health: string | undefined }

/** health().status, or undefined while the plugin is not registered yet. */
function healthOf (app: FastifyInstance | undefined): string | undefined {
  try {
    return app?.amqp?.health().status
  } catch {
    return undefined
  }
}

/** An app with the plugin on the cluster's URLs (the first one is where it connects), its log kept as events. */
async function clusterApp (t: Test, urls: string[], exchange: string, events: LogEvent[], options: Record<string, unknown> = {}): Promise<FastifyInstance> {
  const self: { app?: FastifyInstance } = {}
  const stream = new Writable({
    write (chunk, _enc, cb) {
      const line = JSON.parse(chunk.toString())
      if (process.env.LOG_LEVEL !== undefined) process.stderr.write(chunk)
      // The plugin logs as it acts: health() is read in the same turn.
      if (/amqp|nack/.test(String(line.msg))) events.push({ at: Date.now(), msg: line.msg, connection: line.connection, url: line.url, health: healthOf(self.app) })
      cb()
    }
  })
  const app = Fastify({ logger: { level: 'info', stream } })
  self.app = app
  t.teardown(() => app.close())
  await app.register(warren, { url: urls, exchange, ...options })
  return app
}

/** Resolves with `p`, or rejects after `ms` naming `what`. */
async function guard<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The warnings and errors a node printed, without colours. */
function warnings (node: RabbitNode): string {
  // eslint-disable-next-line no-control-regex
  const lines = node.logTail(20000).replace(/\x1b\[[0-9;]*m/g, '').split('\n')
  return lines.filter((l) => /\[(warning|error)\]/.test(l)).slice(-30).join('\n') || '(none)'
}

interface Run {
  /** The node to kill: the apps connect to it first. */
  victim: RabbitNode
  nodes: RabbitNode[]
  consume: ConsumeOptions
  /** Whether the handler fails the first attempt of every 10th message. */
  failSome: boolean
  /** Plugin options of both apps. */
  options?: Record<string, unknown>
}

interface Figures {
  queue: string
  published: number
  /** Distinct messages confirmed (every one, in the end: rejected publishes are tried again). */
  confirmed: number
  /** Distinct messages handled (the handler returned). */
  received: number
  /** Confirmed, and not handled when the bound (HANDLED_WITHIN) ran out. */
  lost: number
  /** Messages handled more than once (at least once: a redelivery after failover is allowed), and the extra runs. */
  duplicates: number
  extraDeliveries: number
  /** Publishes rejected (each tried again with the same message id), by code. */
  rejected: number
  rejectedBy: Record<string, number>
  /** From the first nack to the last one, in milliseconds (0 without nacks). */
  nackRunMs: number
  /** How many times the publishing app warned that it reopened its channel after a run of nacks. */
  channelReopened: number
  failedOnPurpose: number
  /** Messages handled on a later attempt after the kill: they went through a wait queue while the node was down. */
  retriedAfterKill: number
  /** From the kill to the first confirm after the publishing connection was seen lost. */
  publishResumedMs: number | undefined
  /** From the kill to the first delivery after the consuming connection was seen lost. */
  consumeResumedMs: number | undefined
  deliveriesWhileDown: number
  durationMs: number
  publisherMovedTo: string | undefined
  consumerMovedTo: string | undefined
  /** Whether the publishing app's health() said degraded after the kill: polled, and read as it warned of a run of nacks. */
  degradedSeen: boolean
}

/**
 * Publishes TOTAL messages at RATE with at most IN_FLIGHT unconfirmed, kills
 * the victim after KILL_AFTER are confirmed, retries every rejected publish
 * (same message id) as a user would, and waits until every confirmed message
 * has been handled.
 */
async function failover (t: Test, run: Run): Promise<Figures> {
  const { victim, nodes } = run
  const urls = [victim, ...nodes.filter((n) => n !== victim)].map((n) => n.url)
  const exchange = uniqueName(t, 'x')
  const key = uniqueName(t)
  const pubEvents: LogEvent[] = []
  const conEvents: LogEvent[] = []

  const handled = new Map<string, number>()
  const deliveries: number[] = []
  let failedOnPurpose = 0
  let retriedAfterKill = 0
  let killAt: number | undefined
  const consumer = await clusterApp(t, urls, exchange, conEvents, run.options)
  consumer.amqp.consume(key, async (msg: WarrenMessage) => {
    const id = String(msg.properties.messageId)
    deliveries.push(Date.now())
    if (run.failSome && msg.attempt === 1 && Number(id.slice(2)) % 10 === 0) {
      failedOnPurpose++
      throw new Error('the first attempt of every 10th message fails')
    }
    handled.set(id, (handled.get(id) ?? 0) + 1)
    if (msg.attempt > 1 && killAt !== undefined) retriedAfterKill++
  }, { prefetch: 50, ...run.consume })
  await consumer.ready()
  const publisher = await clusterApp(t, urls, exchange, pubEvents, run.options)
  await publisher.ready()

  const confirmed = new Set<string>()
  const confirmTimes: number[] = []
  const rejectedBy: Record<string, number> = {}
  let rejected = 0
  let nackFirst: number | undefined
  let nackLast: number | undefined
  let killing: Promise<void> | undefined
  let degradedSeen = false
  const healthWatch = setInterval(() => {
    if (killAt !== undefined && publisher.amqp.health().status === 'degraded') degradedSeen = true
  }, 20)
  t.teardown(() => clearInterval(healthWatch))

  /** Publishes one message until the broker confirms it, as a user would retry (same message id). */
  const publishOne = async (id: string): Promise<void> => {
    for (;;) {
      try {
        await publisher.amqp.publish(key, { id }, { messageId: id })
        confirmed.add(id)
        confirmTimes.push(Date.now())
        if (confirmed.size === KILL_AFTER && killAt === undefined) {
          killAt = Date.now()
          killing = victim.kill()
        }
        return
      } catch (err) {
        rejected++
        const code = String((err as { code?: unknown }).code ?? 'uncoded')
        rejectedBy[code] = (rejectedBy[code] ?? 0) + 1
        if (code === 'FST_AMQP_PUBLISH_NACKED') {
          nackFirst ??= Date.now()
          nackLast = Date.now()
        }
        if (Date.now() > deadline) return // given up: the figures say how many were confirmed
        await sleep(100)
      }
    }
  }

  const started = Date.now()
  const deadline = started + PUBLISHED_WITHIN
  const running = new Set<Promise<void>>()
  for (let i = 0; i < TOTAL && Date.now() < deadline; i++) {
    const due = started + i * 1000 / RATE
    if (due > Date.now()) await sleep(due - Date.now())
    while (running.size >= IN_FLIGHT) await Promise.race(running)
    const p = publishOne(`m-${i}`).finally(() => running.delete(p))
    running.add(p)
  }
  await guard(Promise.all(running), PUBLISHED_WITHIN + 30_000, 'every publish to be confirmed or given up')
  await killing
  const allConfirmed = Date.now()
  const allHandled = await waitFor('every confirmed message to be handled', () => [...confirmed].every((id) => handled.has(id)), HANDLED_WITHIN).then(() => true, () => false)
  if (allHandled) {
    // A moment more for late redeliveries to show up as duplicates.
    await sleep(1000)
  } else {
    // What a reader of the failure needs: what is missing, what the apps said, where the messages are.
    const missing = [...confirmed].filter((id) => !handled.has(id))
    t.comment(`handled ${handled.size} of ${confirmed.size} confirmed; missing ${missing.length}: ${missing.slice(0, 20).join(', ')}`)
    t.comment(`consumer health: ${JSON.stringify(consumer.amqp.health())}`)
    const alive = nodes.find((n) => n !== victim)!
    t.comment(`queues: ${await alive.ctl(['list_queues', 'name', 'type', 'messages', 'messages_ready', 'messages_unacknowledged', 'leader']).catch((e: Error) => e.message)}`)
    for (const n of nodes) t.comment(`warnings of ${n.node}${n === victim ? ' (killed)' : ''}: ${warnings(n)}`)
  }

  const lostAt = (events: LogEvent[]) => events.find((e) => e.at >= killAt! && /connection lost/.test(e.msg))?.at
  const movedTo = (events: LogEvent[]) => events.find((e) => e.at >= killAt! && /reconnected/.test(e.msg))?.url
  const pubLost = lostAt(pubEvents)
  const conLost = lostAt(conEvents)
  const firstConfirm = confirmTimes.find((at) => pubLost !== undefined && at > pubLost)
  const firstDelivery = deliveries.find((at) => conLost !== undefined && at > conLost)
  const counts = [...handled.values()]
  return {
    queue: key,
    published: TOTAL,
    confirmed: confirmed.size,
    received: handled.size,
    lost: [...confirmed].filter((id) => !handled.has(id)).length,
    duplicates: counts.filter((n) => n > 1).length,
    extraDeliveries: counts.reduce((sum, n) => sum + n - 1, 0),
    rejected,
    rejectedBy,
    nackRunMs: nackFirst === undefined ? 0 : nackLast! - nackFirst,
    channelReopened: pubEvents.filter((e) => /all been nacked/.test(e.msg)).length,
    failedOnPurpose,
    retriedAfterKill,
    publishResumedMs: firstConfirm === undefined ? undefined : firstConfirm - killAt!,
    consumeResumedMs: firstDelivery === undefined ? undefined : firstDelivery - killAt!,
    deliveriesWhileDown: deliveries.filter((at) => at > killAt!).length,
    durationMs: allConfirmed - started,
    publisherMovedTo: movedTo(pubEvents),
    consumerMovedTo: movedTo(conEvents),
    degradedSeen: degradedSeen || pubEvents.some((e) => /all been nacked/.test(e.msg) && e.health === 'degraded')
  }
}

t.test('kill -9 of the node both apps are connected to: they move to another node of the list, publishing and consuming a quorum queue resume, and nothing confirmed is lost', { skip }, async (t) => {
  const nodes = await cluster!
  const victim = nodes[0]
  // Put the node back for the next test, whatever happens here: a quorum queue needs a majority of its members.
  t.teardown(() => victim.start())
  const figures = await failover(t, { victim, nodes, consume: { queueType: 'quorum' }, failSome: false })
  t.comment(JSON.stringify(figures))
  report('quorum', figures)
  t.same(Object.keys(figures.rejectedBy).filter((code) => !code.startsWith('FST_AMQP_')), [], 'every rejected publish had a code')
  t.equal(figures.confirmed, TOTAL, 'every publish was confirmed in the end (rejected ones retried with the same message id)')
  t.equal(figures.lost, 0, 'nothing confirmed was lost')
  t.equal(figures.received, TOTAL, 'every message was handled')
  t.ok(figures.publishResumedMs !== undefined, 'publishing resumed on another node')
  t.ok(figures.consumeResumedMs !== undefined, 'consuming resumed on another node')
  t.not(figures.publisherMovedTo, undefined, 'the publishing app reconnected')
})

// RabbitMQ 3.10.8 (this machine's) at times stops dead-lettering out of a quorum queue with
// at-least-once dead-lettering after a node is killed: the copies waiting out their retry delay
// stay in <queue>.retry.1, not lost but never back. It happens with plain amqplib as well, so it
// is the broker's; dead-letter worker fixes reached later 3.10 releases. tap does not run a todo
// test: run it by hand (drop the todo) to see the defect, until a broker without it is here.
const WAIT_QUEUE_DEFECT = 'RabbitMQ 3.10.8 at times stops at-least-once dead-lettering from a quorum wait queue after a node is killed (seen with plain amqplib too)'

t.test('with the default retries and a dead-letter queue, a quorum queue\'s consumer does not stall while a node is down: its wait queues are quorum queues too, and every message is handled before the node comes back', { skip, todo: WAIT_QUEUE_DEFECT }, async (t) => {
  const nodes = await cluster!
  const victim = nodes[1]
  // As an operator would before taking a node down: wait until no quorum queue needs it for its
  // majority (the node the previous test killed and restarted may still be catching up).
  await waitFor('the next victim not to be quorum critical', () => victim.ctl(['check_if_node_is_quorum_critical'], 30_000, 'rabbitmq-queues').then(() => true, () => false), 120_000)
  // Back after the assertions, for the next test: everything must be handled while it is down.
  t.teardown(() => victim.start())
  const figures = await failover(t, { victim, nodes, consume: { queueType: 'quorum' }, failSome: true })
  t.comment(JSON.stringify(figures))
  report('retries', figures)
  t.same(Object.keys(figures.rejectedBy).filter((code) => !code.startsWith('FST_AMQP_')), [], 'every rejected publish had a code')
  t.equal(figures.confirmed, TOTAL, 'every publish was confirmed in the end')
  t.equal(figures.lost, 0, 'nothing confirmed was lost')
  t.equal(figures.received, TOTAL, 'every message was handled, the node still down')
  t.ok(figures.failedOnPurpose >= TOTAL / 10, `the first attempt of every 10th message failed (${figures.failedOnPurpose}), and was tried again`)
  t.ok(figures.retriedAfterKill > 0, `messages went through a wait queue after the kill (${figures.retriedAfterKill})`)
  const survivor = nodes.find((n) => n !== victim)!
  const types = await survivor.ctl(['list_queues', 'name', 'type', 'messages', '--formatter', 'json'])
  const byName = new Map((JSON.parse(types) as Array<{ name: string, type: string, messages: number }>).map((q) => [q.name, q]))
  t.equal(byName.get(`${figures.queue}.retry.1`)?.type, 'quorum', 'its wait queue is a quorum queue')
  t.equal(byName.get(`${figures.queue}.dlq`)?.messages ?? 0, 0, 'nothing was dead-lettered')
})

t.test('a publisher that reconnects during the quorum queue\'s leader election and then gets only nacks reopens its channel: publishing resumes, and health() says degraded meanwhile', { skip }, async (t) => {
  const nodes = await cluster!
  const victim = nodes[2]
  t.teardown(() => victim.start())
  // Reconnecting within ~100 ms lands the new channel's first publishes inside the election: in a
  // RabbitMQ 3.10 cluster such a channel was seen to get nothing but nacks for as long as it lived.
  const figures = await failover(t, { victim, nodes, consume: { queueType: 'quorum' }, failSome: false, options: { reconnectDelay: 100 } })
  t.comment(JSON.stringify(figures))
  report('nack-run', figures)
  t.same(Object.keys(figures.rejectedBy).filter((code) => !code.startsWith('FST_AMQP_')), [], 'every rejected publish had a code')
  t.equal(figures.confirmed, TOTAL, 'every publish was confirmed in the end: the nacks did not go on')
  t.equal(figures.lost, 0, 'nothing confirmed was lost')
  t.equal(figures.received, TOTAL, 'every message was handled')
  if (figures.channelReopened > 0) {
    t.ok(figures.degradedSeen, `the channel was reopened after a run of nacks (${figures.rejectedBy.FST_AMQP_PUBLISH_NACKED} nacks over ${figures.nackRunMs} ms), and health() said degraded meanwhile`)
  } else {
    t.comment(`no run of nacks this time (${figures.rejectedBy.FST_AMQP_PUBLISH_NACKED ?? 0} nacks): the reconnection missed the election`)
  }
})
