import type { Connection } from './connection'
import { FST_AMQP_EXCHANGE_NOT_FOUND } from './errors'

/** @internal What the check needs from its publisher. */
export interface CheckContext {
  conn: Connection
  /** Resolves once the publisher has a channel (so the connection is up), or rejects at `timeout`. */
  waitForChannel: (timeout: number) => Promise<unknown>
  /** The error for a publish that may not wait for a connection at all (publishBuffer 0), if so. */
  refuseNow: () => Error | undefined
}

/**
 * @internal
 * The exchanges a publisher knows to exist. Publishing to a missing exchange
 * would make the broker close the shared channel and fail every other
 * publish in flight on it, so an exchange is checked (passively, on a
 * throwaway channel) the first time it is used, and again after a channel
 * closed because it was gone.
 */
export class KnownExchanges {
  private readonly known = new Map<string, Promise<void> | true>()

  constructor (names: string[], private readonly ctx: CheckContext) {
    for (const name of ['', ...names]) this.known.set(name, true)
  }

  /** true when it is known to exist; otherwise the check (in progress or started now). */
  check (exchange: string, timeout: number): true | Promise<void> {
    const known = this.known.get(exchange)
    if (known !== undefined) return known
    const check = this.probe(exchange, timeout)
    this.known.set(exchange, check)
    check.then(() => this.known.set(exchange, true), () => this.known.delete(exchange))
    return check
  }

  /** Checks it again next time. */
  forget (exchange: string): void {
    this.known.delete(exchange)
  }

  private async probe (exchange: string, timeout: number): Promise<void> {
    const { conn } = this.ctx
    if (conn.current === undefined) {
      const refused = this.ctx.refuseNow()
      if (refused) throw refused
      await this.ctx.waitForChannel(timeout)
    }
    const model = conn.current
    if (!model) return this.probe(exchange, timeout) // lost again meanwhile: wait for the next one
    const probe = await model.createChannel()
    probe.on('error', () => {}) // a 404 closes the probe; it is reported below
    try {
      await probe.checkExchange(exchange)
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) throw new FST_AMQP_EXCHANGE_NOT_FOUND(exchange, { cause: err })
      throw err
    } finally {
      probe.close().catch(() => {})
    }
  }
}
