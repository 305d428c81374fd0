import { STATUS_CODES } from 'node:http'
import { FST_AMQP_INVALID_ARGUMENT } from './core/errors'
import type { WarrenClient } from './core/types'

/*
 * fastify-warren/express: the client made by createWarren() in an Express 4
 * or 5 app. Three small functions, and nothing of Express or Fastify loaded:
 * the types below are the few shapes of Express's request, response and
 * next() they use, so that this module works with either major version.
 */

declare global {
  // Express's own declaration merging point: every `req` of an app that imports this module has `req.amqp`.
  namespace Express {
    interface Request {
      /** The fastify-warren client given to warrenMiddleware(). */
      amqp: WarrenClient
    }
  }
}

/** The part of Express's request these functions use. */
interface RequestLike { amqp?: WarrenClient }
/** The part of Express's response these functions use. */
interface ResponseLike {
  headersSent: boolean
  status (code: number): ResponseLike
  setHeader (name: string, value: string): unknown
  json (body: unknown): unknown
}
type Next = (err?: unknown) => void

/**
 * Middleware that puts the client on every request as `req.amqp` (typed by
 * this module's declaration merging).
 *
 * @example
 * app.use(express.json(), warrenMiddleware(warren))
 * app.post('/orders', async (req, res) => {
 *   await req.amqp.publish('orders.created', req.body)
 *   res.status(202).json({ accepted: true })
 * })
 */
export function warrenMiddleware (client: WarrenClient): (req: any, res: any, next: Next) => void {
  assertClient(client, 'warrenMiddleware')
  return function warren (req: RequestLike, _res: unknown, next: Next): void {
    req.amqp = client
    next()
  }
}

/**
 * A route handler answering the client's health(): 200 with the JSON when its
 * status is 'ok', 503 with the same JSON when it is 'degraded' or 'down'.
 *
 * @example
 * app.get('/health/amqp', warrenHealth(warren))
 */
export function warrenHealth (client: WarrenClient): (req: any, res: any) => void {
  assertClient(client, 'warrenHealth')
  return function health (_req: unknown, res: ResponseLike): void {
    const h = client.health()
    res.status(h.status === 'ok' ? 200 : 503).json(h)
  }
}

/** An FST_AMQP_* error as it is thrown. */
interface WarrenError {
  code: string
  message: string
  statusCode?: number
  headers?: Record<string, string>
  validation?: unknown
}

function isWarrenError (err: unknown): err is WarrenError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && (err as unknown as { code: string }).code.startsWith('FST_AMQP_')
}

/**
 * Error middleware, registered last: answers an FST_AMQP_* error as Fastify
 * does, with its status, its headers (Retry-After where it has one) and the
 * JSON body `{ statusCode, code, error, message }` (plus `validation` for an
 * invalid message). Any other error, or one raised after the response began,
 * goes on to the next error handler.
 *
 * @example
 * app.use(warrenErrorHandler())
 */
export function warrenErrorHandler (): (err: unknown, req: any, res: any, next: Next) => void {
  return function warrenErrors (err: unknown, _req: unknown, res: ResponseLike, next: Next): void {
    if (!isWarrenError(err) || res.headersSent) return next(err)
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
    for (const [name, value] of Object.entries(err.headers ?? {})) res.setHeader(name, value)
    const body: Record<string, unknown> = { statusCode: status, code: err.code, error: STATUS_CODES[status] ?? 'Error', message: err.message }
    if (err.validation !== undefined) body.validation = err.validation
    res.status(status).json(body)
  }
}

function assertClient (client: unknown, fn: string): void {
  const c = client as Partial<WarrenClient> | null
  if (c === null || typeof c !== 'object' || typeof c.publish !== 'function' || typeof c.health !== 'function') {
    throw new FST_AMQP_INVALID_ARGUMENT('client', `${fn}() takes the client made by createWarren()`)
  }
}
