import { join } from 'node:path'
import t from 'tap'

/*
 * The broker-behaviour tests again, on the in-memory broker, so that
 * `npm test` covers both brokers: the same files under a tap of their own
 * with AMQP_URL=memory://tests, whose results are a subtest here. A test that
 * needs RabbitMQ over the network says so when skipped.
 */

// Fifteen files under a tap of their own, beside the rest of the suite: more than tap's 90 s per file.
t.setTimeout(600_000)

const ROOT = join(__dirname, '..')
const FILES = [
  'publish', 'consume', 'routing', 'rpc', 'gather', 'pipeline', 'retry', 'shutdown',
  'bad-input', 'headers', 'boundary', 'contracts', 'consumer-health', 'asyncapi',
  'named', 'client', 'express', 'nack-run', 'queue-types', 'single-active-consumer', 'consumer-priority', 'streams'
].map((name) => join('test', `${name}.test.ts`))

t.spawn(process.execPath, [join(ROOT, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs'), '--disable-coverage', '--reporter=tap', ...FILES], {
  cwd: ROOT,
  env: { ...process.env, AMQP_URL: 'memory://tests', TAP_REPORTER: 'tap' },
  timeout: 600_000
}, 'the broker tests on memory://')
