import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, GetMessage, Message, Options } from 'amqplib'

/*
 * What the golden cases use to look at a broker the way a client does, and to
 * turn what they see into plain JSON that two brokers can be compared on.
 */

/** How long any single wait may take before the case fails with what it saw so far. */
export const GUARD_MS = 5000

/** Resolves with `promise`, or rejects after `ms` naming what was awaited. */
export async function within<T> (promise: Promise<T>, what: string, ms = GUARD_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const guard = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, guard])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls `probe` every 10 ms until it returns something other than undefined. */
export async function eventually<T> (probe: () => Promise<T | undefined>, what: string, ms = GUARD_MS): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** A channel with an 'error' listener (a case provokes channel errors on purpose). */
export async function channel (conn: ChannelModel): Promise<Channel> {
  const ch = await conn.createChannel()
  ch.on('error', () => {})
  return ch
}

/** A confirm channel with an 'error' listener. */
export async function confirmChannel (conn: ChannelModel): Promise<ConfirmChannel> {
  const ch = await conn.createConfirmChannel()
  ch.on('error', () => {})
  return ch
}

/** An error as a client sees it: the AMQP reply code and the broker's text (after "with message"). */
export interface ErrorView { code: unknown, text: string }

export function errorView (err: unknown): ErrorView {
  const e = err as { code?: unknown, message?: unknown }
  const message = String(e?.message ?? err)
  const quoted = /with message "(.*)"$/s.exec(message)
  return { code: e?.code, text: quoted ? quoted[1] : message.split('\n')[0] }
}

/**
 * Runs `op` on `ch` expecting the broker to close the channel: the error the
 * channel emits, whether `op` itself rejected (and with what), and what a
 * later call on the closed channel rejects with.
 */
export async function channelError (ch: Channel, op: () => unknown): Promise<{ error: ErrorView, rejected: ErrorView | null, later: string }> {
  const errored = new Promise<unknown>((resolve) => ch.once('error', resolve))
  const closed = new Promise<void>((resolve) => ch.once('close', () => resolve()))
  let rejected: ErrorView | null = null
  try {
    await op()
  } catch (err) {
    rejected = errorView(err)
  }
  const error = errorView(await within(errored, 'the channel error'))
  await within(closed, 'the channel to close')
  let later = 'no error'
  try {
    await Promise.resolve().then(() => ch.checkExchange('amq.direct'))
  } catch (err) {
    later = errorView(err).text
  }
  return { error, rejected, later }
}

/** Deliveries to one consumer, with a way to wait for the n-th. */
export interface Inbox {
  consumerTag: string
  /** Every delivery so far (null when the broker cancelled the consumer). */
  messages: Array<ConsumeMessage | null>
  /** Resolves once `n` deliveries have arrived in all. */
  until (n: number): Promise<Array<ConsumeMessage | null>>
}

/** Starts a consumer on `queue` that records its deliveries, optionally reacting to each. */
export async function inbox (ch: Channel, queue: string, options: Options.Consume = {}, onMessage?: (msg: ConsumeMessage | null) => void): Promise<Inbox> {
  const messages: Array<ConsumeMessage | null> = []
  const waiters: Array<{ n: number, resolve: () => void }> = []
  const check = () => {
    for (const w of [...waiters]) {
      if (messages.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    }
  }
  const { consumerTag } = await ch.consume(queue, (msg) => {
    messages.push(msg)
    onMessage?.(msg)
    check()
  }, options)
  return {
    consumerTag,
    messages,
    async until (n) {
      await within(new Promise<void>((resolve) => { waiters.push({ n, resolve }); check() }), `${n} deliveries from ${queue} (got ${messages.length}: ${messages.map((m) => m === null ? 'null' : body(m)).join(', ')})`)
      return messages.slice(0, n)
    }
  }
}

/** The body of a message as text. */
export function body (msg: Message): string {
  return msg.content.toString()
}

/** The bodies, with a trailing `*` on each redelivered one. */
export function bodies (messages: Array<Message | null>): string[] {
  return messages.map((m) => m === null ? 'null' : body(m) + (m.fields.redelivered ? '*' : ''))
}

/** Takes every message off `queue` with basic.get (no ack), in order. */
export async function drain (ch: Channel, queue: string): Promise<GetMessage[]> {
  const all: GetMessage[] = []
  for (let m = await ch.get(queue, { noAck: true }); m !== false; m = await ch.get(queue, { noAck: true })) all.push(m)
  return all
}

/** Publishes each body to `exchange` with `key`, then waits for every confirm. */
export async function publishAll (ch: ConfirmChannel, exchange: string, key: string, items: string[], options: Options.Publish = {}): Promise<void> {
  for (const item of items) ch.publish(exchange, key, Buffer.from(item), options)
  await within(ch.waitForConfirms(), 'publisher confirms')
}

/** Headers with every timestamp (x-death `time`) replaced by a marker; JSON-able. */
export function deathHeaders (headers: Record<string, unknown> | undefined): unknown {
  if (!headers) return headers
  const out: Record<string, unknown> = { ...headers }
  if (Array.isArray(out['x-death'])) {
    out['x-death'] = out['x-death'].map((d: Record<string, unknown>) => ({ ...d, time: d.time === undefined ? 'absent' : '<time>' }))
  }
  return out
}

/** The properties a client reads, without the undefined ones. */
export function propertiesView (msg: Message): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(msg.properties)) {
    if (v !== undefined) out[k] = k === 'headers' ? deathHeaders(v) : v
  }
  return out
}

/**
 * The observation as JSON: names from `unique()` become `<prefix>`, and names
 * the broker makes up (amq.gen-…, amq.ctag-…, reply-to addresses) lose their random part.
 */
export function normalise (value: unknown, names: Map<string, string>): unknown {
  const text = JSON.stringify(value === undefined ? null : value, (_key, v) => {
    if (typeof v !== 'string') return v
    let s = v
    for (const [name, prefix] of names) s = s.split(name).join(`<${prefix}>`)
    return s
      .replace(/amq\.gen-[A-Za-z0-9_-]+/g, 'amq.gen-*')
      .replace(/amq\.ctag-[A-Za-z0-9_-]+/g, 'amq.ctag-*')
      .replace(/amq\.rabbitmq\.reply-to\.[A-Za-z0-9_.=+/-]+/g, 'amq.rabbitmq.reply-to.*')
  })
  return JSON.parse(text)
}
