/*
 * `npm run example:pipeline`: the pipeline is started from its end (logger,
 * then C, B, A), so that each stage's next queue is bound before the stage
 * publishes to it, then the entry.
 */
import { launch } from '../common/launch'

launch(__dirname, [
  { name: 'logger', file: 'logger.ts', port: 3004 },
  { name: 'stage-c', file: 'stage.ts', port: 3003, env: { STAGE: 'C' } },
  { name: 'stage-b', file: 'stage.ts', port: 3002, env: { STAGE: 'B' } },
  { name: 'stage-a', file: 'stage.ts', port: 3001, env: { STAGE: 'A' } },
  { name: 'entry', file: 'entry.ts', port: 3000 }
], (url) => `curl -X POST ${url('entry')}/messages -H 'content-type: application/json' -d '{"text":"  Hello  brave NEW world ","delays":{"B":3000}}'
curl -X POST ${url('entry')}/messages -H 'content-type: application/json' -d '{"text":"second, but quicker"}'
curl ${url('logger')}/messages
curl ${url('logger')}/messages/<id>`)
