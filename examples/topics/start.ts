/*
 * `npm run example:topics`: the four subscribers first (so their queues are
 * bound), then the emitter.
 */
import { launch } from '../common/launch'

const post = (url: string, key: string, message: string) =>
  `curl -X POST ${url}/logs -H 'content-type: application/json' -d '{"key":"${key}","message":"${message}"}'`

launch(__dirname, [
  { name: 'kernel', file: 'kernel.ts', port: 3001 },
  { name: 'critical', file: 'critical.ts', port: 3002 },
  { name: 'kernel-all', file: 'kernel-all.ts', port: 3003 },
  { name: 'archive', file: 'archive.ts', port: 3004 },
  { name: 'emitter', file: 'emitter.ts', port: 3000 }
], (url) => `${post(url('emitter'), 'kern.critical', 'kernel panic')}
${post(url('emitter'), 'auth.critical', 'too many failed logins')}
${post(url('emitter'), 'kern.disk.critical', 'disk failing')}
curl ${url('kernel')}/logs   # kern.*
curl ${url('critical')}/logs   # *.critical
curl ${url('kernel-all')}/logs   # kern.#
curl ${url('archive')}/logs   # #`)
