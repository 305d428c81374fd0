import t from 'tap'
import { asyncApi, http, launcher, service, vhost, waitFor, type Service } from './examples'

/*
 * The topics example as real processes in a virtual host of their own: an
 * emitter publishing to a topic exchange, and four subscribers bound with
 * `kern.*`, `*.critical`, `kern.#` and `#`. The table below is written by hand
 * from RabbitMQ's rules (words split on '.', an empty string between dots is a
 * word, the empty key has no words; `*` is exactly one word, `#` zero or more)
 * and the broker has to agree with every row.
 */

const EXAMPLE = 'topics'
const Y = true
const N = false

/* eslint-disable @stylistic/no-multi-spaces -- a table, aligned by column */
const TABLE: Array<[key: string, kern_star: boolean, star_critical: boolean, kern_hash: boolean, hash: boolean]> = [
  // key                   kern.*  *.critical  kern.#  #
  ['kern.critical',          Y,      Y,          Y,      Y],
  ['kern.info',              Y,      N,          Y,      Y],
  ['auth.critical',          N,      Y,          N,      Y],
  ['auth.info',              N,      N,          N,      Y],
  ['kernel.critical',        N,      Y,          N,      Y], // words match whole, not as prefixes
  ['kern',                   N,      N,          Y,      Y], // # matches zero words
  ['critical',               N,      N,          N,      Y],
  ['kern.disk.critical',     N,      N,          Y,      Y], // * is one word, never two
  ['kern.disk.io.error',     N,      N,          Y,      Y],
  ['kern..critical',         N,      N,          Y,      Y], // three words, the middle one empty
  ['.critical',              N,      Y,          N,      Y], // the empty first word is a word
  ['kern.',                  Y,      N,          Y,      Y], // the empty second word is a word
  ['.',                      N,      N,          N,      Y], // two empty words
  ['',                       N,      N,          N,      Y] // no words at all
]
/* eslint-enable @stylistic/no-multi-spaces */

const SUBSCRIBERS = [
  { file: 'kernel.ts', column: 1 },
  { file: 'critical.ts', column: 2 },
  { file: 'kernel-all.ts', column: 3 },
  { file: 'archive.ts', column: 4 }
] as const

async function emit (emitter: Service, key: string, message: string): Promise<{ status: number, json: any }> {
  return http('POST', emitter.base + '/logs', { key, message })
}

/** The lines a subscriber has, in the order it got them. */
async function received (s: Service): Promise<Array<{ key: string, message: string }>> {
  const { status, json } = await http('GET', s.base + '/logs')
  if (status !== 200) throw new Error(`${s.name} answered ${status}`)
  return json
}

t.test('the topics example', async (t) => {
  const env = { AMQP_URL: await vhost(t) }
  const emitter = await service(t, EXAMPLE, 'emitter.ts', env)

  await t.test('before any subscriber has bound a queue, a key is refused with 502 FST_AMQP_UNROUTABLE', async (t) => {
    const { status, json } = await emit(emitter, 'kern.critical', 'too early')
    t.equal(status, 502)
    t.equal(json.code, 'FST_AMQP_UNROUTABLE')
  })

  const subscribers: Service[] = []
  for (const s of SUBSCRIBERS) subscribers.push(await service(t, EXAMPLE, s.file, env))

  await t.test('every service serves an AsyncAPI document without errors', async (t) => {
    for (const s of [emitter, ...subscribers]) await asyncApi(t, s)
  })

  await t.test('each subscriber receives exactly the keys its pattern matches, as the hand-written table says', async (t) => {
    for (const [key] of TABLE) {
      const { status } = await emit(emitter, key, `line ${JSON.stringify(key)}`)
      t.equal(status, 202, `${JSON.stringify(key)} is accepted (the archive's # matches every key)`)
    }
    // `kern.critical` matches every pattern, and a queue delivers in publishing
    // order: once a subscriber has this line, it has everything sent before it.
    t.equal((await emit(emitter, 'kern.critical', 'end')).status, 202)

    for (const [i, { column }] of SUBSCRIBERS.entries()) {
      const s = subscribers[i]
      const lines = await waitFor(`${s.name} to receive the last line`, async () => {
        const got = await received(s)
        return got.some((l) => l.message === 'end') && got
      }, 15000, () => s.output.join('').split('\n').filter((l) => !/"msg":"(incoming request|request completed)"/.test(l)).join('\n'))
      const expected = TABLE.filter((row) => row[column]).map(([key]) => key)
      t.same(lines.filter((l) => l.message !== 'end').map((l) => l.key), expected, `${s.name} got exactly its keys`)
      t.ok(lines.every((l) => l.message === 'end' || l.message === `line ${JSON.stringify(l.key)}`), 'each line carries its own message')
    }
  })

  await t.test('the emitter rejects a missing key or message, a key with other characters than ASCII words, dots and dashes, and a key over 255 characters, with 400', async (t) => {
    const bodies = [
      {},
      { key: 'kern.critical' },
      { message: 'no key' },
      { key: 'kern critical', message: 'x' },
      { key: 'kérn.critical', message: 'x' },
      { key: 'kern.*', message: 'x' },
      { key: 'a'.repeat(256), message: 'x' },
      { key: 'kern.critical', message: { nested: true } }
    ]
    for (const body of bodies) {
      const { status, json } = await http('POST', emitter.base + '/logs', body)
      t.equal(status, 400, JSON.stringify(body).slice(0, 60))
      t.equal(json.code, 'FST_ERR_VALIDATION')
    }
    t.equal((await emit(emitter, 'a'.repeat(255), 'x')).status, 202, 'a key of exactly 255 characters is accepted')
  })

  await t.test('every service exits with code 0 on SIGTERM', async (t) => {
    for (const s of [emitter, ...subscribers]) t.same(await s.stop(), { code: 0, signal: null }, s.name)
  })
})

t.test('npm run example:topics runs the five services, prints the curl commands and stops cleanly on Ctrl-C', async (t) => {
  const { banner, closed, output } = await launcher(t, EXAMPLE, await vhost(t))
  t.match(banner, /curl -X POST http:\/\/127\.0\.0\.1:\d+\/logs .*"key":"kern\.critical"/)
  t.match(banner, /curl http:\/\/127\.0\.0\.1:\d+\/logs/)
  t.same(closed, ['archive', 'critical', 'emitter', 'kernel', 'kernel-all'], 'every service drained and closed its connection')
  t.notMatch(output, /exited \(/, 'no service died')
})
