/*
 * `npm run example:work-queues`: two instances of the same worker file, one
 * fast and one five times slower, then the producer.
 */
import { launch } from '../common/launch'

launch(__dirname, [
  { name: 'fast-worker', file: 'worker.ts', port: 3001, env: { WORKER_NAME: 'fast-worker', SLOWDOWN: '1' } },
  { name: 'slow-worker', file: 'worker.ts', port: 3002, env: { WORKER_NAME: 'slow-worker', SLOWDOWN: '5' } },
  { name: 'producer', file: 'producer.ts', port: 3000 }
], (url) => `curl -X POST ${url('producer')}/tasks -H 'content-type: application/json' -d '{"costs":[200,200,200,200,200,200,200,200,200,200,200,200]}'
curl ${url('fast-worker')}/done
curl ${url('slow-worker')}/done`)
