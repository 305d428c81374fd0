/** @internal The part of a pino/Fastify logger the plugin uses. */
export interface Log {
  debug (obj: object, msg?: string): void
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
}

/** @internal A logger that drops everything (the core used without Fastify). */
export const silentLog: Log = {
  debug () {},
  info () {},
  warn () {},
  error () {}
}
