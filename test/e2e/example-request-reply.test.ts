import t from 'tap'
import { asyncApi, deref, http, launcher, service, vhost, waitFor } from './examples'

/*
 * The request-reply example, run the way a user runs it: the shop (HTTP →
 * request) and pricing (consume → reply) as real processes, in a virtual host
 * of their own.
 */

/** Unit prices in pricing.ts, in cents, and its rule: 10% off from 10 items. */
const PRICES: Record<string, number> = { tea: 450, mug: 1200, kettle: 3500 }
const total = (sku: string, quantity: number) => PRICES[sku] * quantity * (quantity >= 10 ? 0.9 : 1)

t.test('the request-reply example', async (t) => {
  const env = { AMQP_URL: await vhost(t) }
  const shop = await service(t, 'request-reply', 'shop.ts', env)

  await t.test('with no pricing service ever started, a quote fails at once with 502 FST_AMQP_UNROUTABLE', async (t) => {
    const { status, json } = await http('GET', shop.base + '/quote/tea')
    t.equal(status, 502)
    t.equal(json.code, 'FST_AMQP_UNROUTABLE')
  })

  let pricing = await service(t, 'request-reply', 'pricing.ts', env)

  await t.test('a quote comes back as the HTTP answer', async (t) => {
    const { status, json } = await http('GET', shop.base + '/quote/tea?quantity=12')
    t.equal(status, 200)
    t.same(json, { sku: 'tea', name: 'Green tea, 100 g', quantity: 12, unitPrice: 450, discount: 10, total: 4860, currency: 'EUR' })

    const one = await http('GET', shop.base + '/quote/kettle')
    t.equal(one.status, 200)
    t.match(one.json, { sku: 'kettle', quantity: 1, discount: 0, total: 3500 }, 'quantity defaults to 1')
  })

  await t.test('both services serve an AsyncAPI document without errors: the shop sends the quote request, pricing receives it, both with its reply', async (t) => {
    const request = { type: 'object', properties: { sku: { type: 'string' }, quantity: { type: 'integer', minimum: 1 } }, required: ['sku', 'quantity'] }
    const reply = {
      type: 'object',
      properties: { sku: { type: 'string' }, name: { type: 'string' }, quantity: { type: 'integer' }, unitPrice: { type: 'integer' }, discount: { type: 'number' }, total: { type: 'integer' }, currency: { const: 'EUR' } },
      required: ['sku', 'name', 'quantity', 'unitPrice', 'discount', 'total', 'currency']
    }
    const replyTo = { address: { location: '$message.header#/reply_to' } }

    const shopDoc = await asyncApi(t, shop)
    const send = shopDoc.operations['send.quote']
    t.match(send, { action: 'send', reply: replyTo, bindings: { amqp: { deliveryMode: 1 } } }, 'the shop sends quote, not persistent, and expects a reply through direct reply-to')
    t.match(deref(shopDoc, send.channel), { address: 'quote', bindings: { amqp: { exchange: { name: 'warren' } } } })
    t.match(deref(shopDoc, send.messages[0]), { payload: request, correlationId: { location: '$message.header#/correlation_id' } }, 'the request\'s payload, from the Zod schema')
    t.match(deref(shopDoc, send.reply.messages[0]), { payload: reply }, 'the reply\'s payload')
    t.same(Object.values(shopDoc.operations).map((o: any) => o.action), ['send'], 'the shop receives nothing')

    const pricingDoc = await asyncApi(t, pricing)
    const receives = Object.values(pricingDoc.operations) as any[]
    t.same(receives.map((o) => o.action), ['receive'], 'pricing has one operation, a receive')
    t.match(receives[0], { reply: replyTo }, 'which replies')
    t.match(deref(pricingDoc, receives[0].channel), { address: 'quote', bindings: { amqp: { is: 'queue', queue: { name: 'quote', durable: true } } } }, 'on its durable queue quote')
    t.match(deref(pricingDoc, receives[0].messages[0]), { payload: request })
    t.match(deref(pricingDoc, receives[0].reply.messages[0]), { payload: reply })
  })

  await t.test('50 concurrent quotes, each for another product and quantity, each get their own reply', async (t) => {
    const skus = Object.keys(PRICES)
    const asks = Array.from({ length: 50 }, (_, i) => ({ sku: skus[i % skus.length], quantity: i + 1 }))
    const answers = await Promise.all(asks.map(({ sku, quantity }) => http('GET', `${shop.base}/quote/${sku}?quantity=${quantity}`)))
    answers.forEach(({ status, json }, i) => {
      const { sku, quantity } = asks[i]
      t.equal(status, 200, `${sku} × ${quantity}`)
      t.match(json, { sku, quantity, total: total(sku, quantity) }, `${sku} × ${quantity}`)
    })
  })

  await t.test('an unknown product is pricing\'s error E_UNKNOWN_PRODUCT, which the shop answers as 404 with the remote message', async (t) => {
    const { status, json } = await http('GET', shop.base + '/quote/unicorn')
    t.equal(status, 404)
    t.same(json, { statusCode: 404, code: 'E_UNKNOWN_PRODUCT', error: 'Not Found', message: 'no product "unicorn"' })
  })

  await t.test('any other error in pricing is 502 FST_AMQP_RPC_REMOTE_ERROR carrying the remote message', async (t) => {
    const { status, json } = await http('GET', shop.base + '/quote/samovar')
    t.equal(status, 502)
    t.equal(json.code, 'FST_AMQP_RPC_REMOTE_ERROR')
    t.match(json.message, /"samovar" has no price yet/)
  })

  await t.test('a quote pricing is slower to give than the shop waits becomes 504 FST_AMQP_RPC_TIMEOUT', async (t) => {
    const { status, json } = await http('GET', shop.base + '/quote/teapot')
    t.equal(status, 504)
    t.equal(json.code, 'FST_AMQP_RPC_TIMEOUT')
    t.ok(pricing.output.join('').includes('"sku":"teapot"'), 'pricing did receive the request: it was slow, not absent')
  })

  await t.test('while pricing is down, a quote times out with 504 and expires in the queue instead of being computed late', async (t) => {
    t.same(await pricing.stop(), { code: 0, signal: null }, 'pricing stopped')
    // Its durable queue stays, so the request is routed, waits there, and expires.
    const stale = await http('GET', shop.base + '/quote/tea?quantity=777')
    t.equal(stale.status, 504)
    t.equal(stale.json.code, 'FST_AMQP_RPC_TIMEOUT')

    pricing = await service(t, 'request-reply', 'pricing.ts', env)
    const fresh = await http('GET', shop.base + '/quote/tea?quantity=778')
    t.equal(fresh.status, 200)
    t.equal(fresh.json.quantity, 778)
    // The queue is FIFO: had the stale request been delivered, it would have been logged first.
    await waitFor('pricing to log the fresh request', () => pricing.output.join('').includes('"quantity":778'), 15000, () => pricing.output.join(''))
    t.notOk(pricing.output.join('').includes('"quantity":777'), 'the expired request was never computed')
  })

  await t.test('both services exit with code 0 on SIGTERM', async (t) => {
    for (const s of [shop, pricing]) t.same(await s.stop(), { code: 0, signal: null }, s.name)
  })
})

t.test('npm run example:request-reply runs both services, prints the curl commands and stops cleanly on Ctrl-C', async (t) => {
  const { banner, closed, output } = await launcher(t, 'request-reply', await vhost(t))
  t.match(banner, /curl 'http:\/\/127\.0\.0\.1:\d+\/quote\/tea\?quantity=12'/)
  t.match(banner, /curl http:\/\/127\.0\.0\.1:\d+\/quote\/teapot/)
  t.same(closed, ['pricing', 'shop'], 'both services drained and closed their connection')
  t.notMatch(output, /exited \(/, 'no service died')
})
