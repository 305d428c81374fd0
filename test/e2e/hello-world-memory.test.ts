import { join } from 'node:path'
import t from 'tap'

/*
 * The hello world's services in one process on memory://hello, no RabbitMQ.
 * The test runs as a child under `node --import tsx`, as the examples run,
 * so that `fastify-warren` and `fastify-warren/testing` resolve to lib/ (tap's
 * own loader would take the built package); its results are a subtest here.
 */
t.spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'children', 'hello-world-memory.ts')], { cwd: join(__dirname, '..', '..') },
  'the hello world\'s two services as two apps on memory://hello')
