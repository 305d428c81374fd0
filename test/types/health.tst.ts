import { expect, test } from 'tstyche'
import type { Health } from '../../lib/index'

test('health() says whether publishes are being nacked', () => {
  expect<Health['publishing']>().type.toBe<'ok' | 'nacked'>()
  expect<Health['status']>().type.toBe<'ok' | 'degraded' | 'down'>()
})
