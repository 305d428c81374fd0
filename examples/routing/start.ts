/*
 * `npm run example:routing`: the two subscribers first (so their queues are
 * bound), then the emitter.
 */
import { launch } from '../common/launch'

launch(__dirname, [
  { name: 'alerts', file: 'alerts.ts', port: 3001 },
  { name: 'logbook', file: 'logbook.ts', port: 3002 },
  { name: 'emitter', file: 'emitter.ts', port: 3000 }
], (url) => `curl -X POST ${url('emitter')}/logs -H 'content-type: application/json' -d '{"severity":"error","message":"disk full"}'
curl -X POST ${url('emitter')}/logs -H 'content-type: application/json' -d '{"severity":"info","message":"user logged in"}'
curl -X POST ${url('emitter')}/logs -H 'content-type: application/json' -d '{"severity":"debug","message":"nobody binds debug"}'   # 502
curl ${url('alerts')}/logs
curl ${url('logbook')}/logs`)
