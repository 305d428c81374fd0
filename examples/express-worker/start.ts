/*
 * `npm run example:express-worker`: the worker first, so its queue is bound,
 * then the Express web app.
 */
import { launch } from '../common/launch'

launch(__dirname, [
  { name: 'worker', file: 'worker.ts', port: 3001, readyLine: /worker consuming/ },
  { name: 'web', file: 'web.ts', port: 3000 }
], (url) => `curl -X POST ${url('web')}/orders -H 'content-type: application/json' -d '{"sku":"AB-1","qty":2}'
curl ${url('web')}/health`)
