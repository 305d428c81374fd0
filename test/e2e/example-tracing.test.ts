import t from 'tap'
import { http, launcher, vhost, waitFor } from './examples'

/*
 * `npm run example:tracing` as a user runs it: the hello world's services
 * under the OpenTelemetry Node SDK, their spans sent over OTLP/HTTP to the
 * launcher, which prints each trace as a tree.
 */

t.test('npm run example:tracing prints one trace from the HTTP request in service 1 to the process span in service 2', async (t) => {
  let tree = ''
  const { banner, closed } = await launcher(t, 'tracing', await vhost(t), async ({ portBase, output }) => {
    const posted = await http('POST', `http://127.0.0.1:${portBase}/process`, { text: 'trace me' })
    t.equal(posted.status, 202)
    const id = posted.json.id as string
    tree = await waitFor('the trace tree with the process span', () => {
      const text = output()
      const at = text.indexOf('process warren:process  [service2, consumer')
      if (at === -1 || !text.slice(at).includes(id)) return undefined
      const start = text.lastIndexOf('\ntrace ', at)
      return text.slice(start, text.indexOf('\n\n', at))
    }, 20000, output)
  })
  t.match(banner, /curl -X POST http:\/\/127\.0\.0\.1:\d+\/process/)
  t.match(tree, /^\ntrace [0-9a-f]{32}: \d+ spans across service1, service2/, 'one trace, across both services')
  const lines = tree.trim().split('\n').slice(1)
  const depth = (pattern: RegExp): number => {
    const line = lines.find((l) => pattern.test(l))
    t.ok(line, `the tree has a line matching ${pattern}`)
    return line === undefined ? -1 : line.search(/\S/)
  }
  const request = depth(/^ {2}request {2}\[service1, server/)
  const publish = depth(/publish warren:process {2}\[service1, producer/)
  const processed = depth(/process warren:process {2}\[service2, consumer.*→ ack/)
  t.ok(request < publish, 'the publish span is under the HTTP request\'s')
  t.ok(publish < processed, 'the process span is under the publish span')
  t.same(closed, ['service1', 'service2'], 'both services drained on Ctrl-C')
})
