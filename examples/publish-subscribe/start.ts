/*
 * `npm run example:publish-subscribe`: two instances of each subscriber
 * (so you can see the audit instances split their copy while each dashboard
 * instance gets its own), then the publisher.
 */
import { launch } from '../common/launch'

launch(__dirname, [
  { name: 'audit-1', file: 'audit.ts', port: 3001 },
  { name: 'audit-2', file: 'audit.ts', port: 3002 },
  { name: 'dashboard-1', file: 'dashboard.ts', port: 3003 },
  { name: 'dashboard-2', file: 'dashboard.ts', port: 3004 },
  { name: 'publisher', file: 'publisher.ts', port: 3000 }
], (url) => `curl -X POST ${url('publisher')}/events -H 'content-type: application/json' -d '{"type":"user.signed_up","data":{"user":"ada"}}'
curl ${url('audit-1')}/events     # audit-1 and audit-2 split the audit's copy
curl ${url('audit-2')}/events
curl ${url('dashboard-1')}/events     # each dashboard has every event
curl ${url('dashboard-2')}/events`)
