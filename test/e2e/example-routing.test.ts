import t from 'tap'
import { asyncApi, http, launcher, service, vhost, waitFor, type Service } from './examples'

/*
 * The routing example as real processes in a virtual host of their own: an
 * emitter publishing log lines to a direct exchange with the severity as the
 * routing key, alerts bound to `error`, the logbook bound to `info` and `warning`.
 */

const EXAMPLE = 'routing'

async function emit (emitter: Service, severity: string, message: string): Promise<{ status: number, json: any }> {
  return http('POST', emitter.base + '/logs', { severity, message })
}

/** `severity:message` of each line a subscriber has, in the order it got them. */
async function received (s: Service): Promise<string[]> {
  const { status, json } = await http('GET', s.base + '/logs')
  if (status !== 200) throw new Error(`${s.name} answered ${status}`)
  return json.map((l: { severity: string, message: string }) => `${l.severity}:${l.message}`)
}

/** Waits until `s` has received `last`; lines published before it on the same queue have arrived by then. */
async function receivedUpTo (s: Service, last: string): Promise<string[]> {
  return waitFor(`${s.name} to receive ${last}`, async () => {
    const got = await received(s)
    return got.includes(last) && got
  }, 15000, () => s.output.join('').split('\n').filter((l) => !/"msg":"(incoming request|request completed)"/.test(l)).join('\n'))
}

t.test('the routing example', async (t) => {
  const env = { AMQP_URL: await vhost(t) }
  const emitter = await service(t, EXAMPLE, 'emitter.ts', env)

  await t.test('before any subscriber has bound a queue, every severity is refused with 502 FST_AMQP_UNROUTABLE', async (t) => {
    for (const severity of ['error', 'info']) {
      const { status, json } = await emit(emitter, severity, 'too early')
      t.equal(status, 502, severity)
      t.equal(json.code, 'FST_AMQP_UNROUTABLE')
    }
  })

  let alerts = await service(t, EXAMPLE, 'alerts.ts', env)
  const logbook = await service(t, EXAMPLE, 'logbook.ts', env)

  await t.test('every service serves an AsyncAPI document without errors', async (t) => {
    for (const s of [emitter, alerts, logbook]) await asyncApi(t, s)
  })

  await t.test('each subscriber receives exactly the severities it bound, and debug, which nobody binds, gets 502 FST_AMQP_UNROUTABLE', async (t) => {
    const lines: Array<[string, string]> = [
      ['info', 'user logged in'],
      ['error', 'disk full'],
      ['warning', 'disk 90% full'],
      ['debug', 'cache miss'],
      ['error', 'payment failed'],
      ['info', 'user logged out'],
      ['warning', 'slow query']
    ]
    for (const [severity, message] of lines) {
      const { status, json } = await emit(emitter, severity, message)
      if (severity === 'debug') {
        t.equal(status, 502, 'debug is unroutable')
        t.equal(json.code, 'FST_AMQP_UNROUTABLE')
      } else {
        t.equal(status, 202, `${severity} is accepted`)
        t.equal(json.published, true)
      }
    }
    // The last line to each queue marks the end: a queue delivers in publishing order.
    t.equal((await emit(emitter, 'error', 'end')).status, 202)
    t.equal((await emit(emitter, 'warning', 'end')).status, 202)

    t.same(await receivedUpTo(alerts, 'error:end'), ['error:disk full', 'error:payment failed', 'error:end'])
    t.same(await receivedUpTo(logbook, 'warning:end'),
      ['info:user logged in', 'warning:disk 90% full', 'info:user logged out', 'warning:slow query', 'warning:end'])
  })

  await t.test('an error published while the alerts service is down is accepted (its queue is still bound) and delivered when it restarts', async (t) => {
    t.same(await alerts.stop(), { code: 0, signal: null })
    const { status } = await emit(emitter, 'error', 'while alerts was down')
    t.equal(status, 202)
    alerts = await service(t, EXAMPLE, 'alerts.ts', env)
    t.same(await receivedUpTo(alerts, 'error:while alerts was down'), ['error:while alerts was down'])
  })

  await t.test('the emitter rejects a missing or unknown severity or a missing message with 400', async (t) => {
    const bodies = [{}, { message: 'x' }, { severity: 'critical', message: 'x' }, { severity: 'ERROR', message: 'x' }, { severity: 'error' }, { severity: 'error', message: { nested: true } }]
    for (const body of bodies) {
      const { status, json } = await http('POST', emitter.base + '/logs', body)
      t.equal(status, 400, JSON.stringify(body))
      t.equal(json.code, 'FST_ERR_VALIDATION')
    }
  })

  await t.test('every service exits with code 0 on SIGTERM', async (t) => {
    for (const s of [emitter, alerts, logbook]) t.same(await s.stop(), { code: 0, signal: null }, s.name)
  })
})

t.test('npm run example:routing runs the three services, prints the curl commands and stops cleanly on Ctrl-C', async (t) => {
  const { banner, closed, output } = await launcher(t, EXAMPLE, await vhost(t))
  t.match(banner, /curl -X POST http:\/\/127\.0\.0\.1:\d+\/logs .*"severity":"error"/)
  t.match(banner, /curl http:\/\/127\.0\.0\.1:\d+\/logs/)
  t.same(closed, ['alerts', 'emitter', 'logbook'], 'every service drained and closed its connection')
  t.notMatch(output, /exited \(/, 'no service died')
})
