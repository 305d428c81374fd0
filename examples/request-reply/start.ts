/*
 * `npm run example:request-reply`: pricing first (so its `quote` queue is
 * bound), then the shop.
 */
import { launch } from '../common/launch'

launch(__dirname, [
  { name: 'pricing', file: 'pricing.ts', port: 3001 },
  { name: 'shop', file: 'shop.ts', port: 3000 }
], (url) => `curl '${url('shop')}/quote/tea?quantity=12'
curl ${url('shop')}/quote/unicorn      # 404 E_UNKNOWN_PRODUCT (pricing's error, mapped)
curl ${url('shop')}/quote/samovar      # 502 FST_AMQP_RPC_REMOTE_ERROR
curl ${url('shop')}/quote/teapot       # 504 FST_AMQP_RPC_TIMEOUT after 2 s`)
