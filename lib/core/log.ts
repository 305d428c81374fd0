/** @internal The part of a pino/Fastify logger the plugin uses. */
export interface Log {
  debug (obj: object, msg?: string): void
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
  /** A logger with `bindings` on every line (pino's child); withFields() where there is none. */
  child?: (bindings: Record<string, unknown>) => Log
}

/** @internal A logger that drops everything (the core used without Fastify). */
export const silentLog: Log = {
  debug () {},
  info () {},
  warn () {},
  error () {}
}

/** @internal A child of `log` with `bindings` on every line: its own child() if it has one. */
export function childOf (log: Log, bindings: Record<string, unknown>): Log {
  return typeof log.child === 'function' ? log.child(bindings) : withFields(log, bindings)
}

/** @internal A logger that adds `fields` to every line. */
export function withFields (log: Log, fields: object): Log {
  return {
    debug: (o, m) => log.debug({ ...o, ...fields }, m),
    info: (o, m) => log.info({ ...o, ...fields }, m),
    warn: (o, m) => log.warn({ ...o, ...fields }, m),
    error: (o, m) => log.error({ ...o, ...fields }, m),
    child: (bindings) => withFields(log, { ...fields, ...bindings })
  }
}
