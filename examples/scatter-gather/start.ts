/*
 * `npm run example:scatter-gather`: the shard file three times (each binds its
 * own queue to `sum`), then the reducer.
 */
import { launch } from '../common/launch'

launch(__dirname, [
  { name: 'shard-1', file: 'shard.ts', port: 3001, env: { SHARD: '1' } },
  { name: 'shard-2', file: 'shard.ts', port: 3002, env: { SHARD: '2' } },
  { name: 'shard-3', file: 'shard.ts', port: 3003, env: { SHARD: '3' } },
  { name: 'reducer', file: 'reducer.ts', port: 3000 }
], (url) => `curl '${url('reducer')}/total'
curl '${url('reducer')}/total?min=10&max=20'
curl -X PUT ${url('shard-2')}/maintenance -H 'content-type: application/json' -d '{"on":true}'
curl '${url('reducer')}/total'`)
