/*
 * `npm run example:task-distribution`: two instances of the worker (each
 * job takes them an extra 300 ms, so you can see them share), then the API.
 * Results go to PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { launch } from '../common/launch'

launch(__dirname, [
  { name: 'worker-1', file: 'worker.ts', port: 3001, env: { WORKER_NAME: 'worker-1', WORK_MS: '300' } },
  { name: 'worker-2', file: 'worker.ts', port: 3002, env: { WORKER_NAME: 'worker-2', WORK_MS: '300' } },
  { name: 'api', file: 'api.ts', port: 3000 }
], (url) => `curl -X POST ${url('api')}/jobs -H 'content-type: application/json' -d '{"text":"the quick brown fox jumps over the lazy dog"}'
curl ${url('api')}/jobs/<jobId>`)
