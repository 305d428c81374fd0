/** A console logger with pino's methods, one JSON line per entry: enough for an example (use pino in a real service). */
export const logger = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((level) => [level,
  (obj: object, msg?: string) => { if (level !== 'debug') console.log(JSON.stringify({ level, ...obj, msg })) }])) as {
  debug (obj: object, msg?: string): void
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
}
