/*
 * `npm start` (= `npm run example:hello-world`): service 2 (the consumer) first,
 * so its queue is bound, then service 1 (the HTTP front).
 */
import { launch } from '../common/launch'

launch(__dirname, [
  { name: 'service2', file: 'service2.ts', port: 3001 },
  { name: 'service1', file: 'service1.ts', port: 3000 }
], (url) => `curl -X POST ${url('service1')}/process -H 'content-type: application/json' -d '{"text":"hello world"}'
curl ${url('service2')}/processed`)
