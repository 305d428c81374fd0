import t from 'tap'
import { parseMachineStat, parseProcStat, pidListening, saturation } from '../../bench/broker-cpu'
import { bodyOfSize, curvesText, messagesAtSize, sizeLabel, summarizeCurve } from '../../bench/curves'
import { niceMax } from '../../bench/curves-chart'
import { markdownGrid, peersRows, textGrid } from '../../bench/peers-table'
import { chart } from '../../bench/chart'
import { ratioText, roundRatios, summarize, textTable } from '../../bench/report'
import { rotation } from '../../bench/stats'
import type { Row } from '../../bench/harness'

const row = (over: Partial<Row>): Row => ({ id: 'x', title: 'x', unit: 'msg/s', better: 'higher', samples: {}, baseline: 'raw', ...over })

t.test('each round starts with the next implementation, so that over n rounds each runs once in every position', async (t) => {
  const impls = ['raw', 'plugin', 'rabbitmq-client', 'channel-wrapper']
  t.same(rotation(impls, 0), ['raw', 'plugin', 'rabbitmq-client', 'channel-wrapper'])
  t.same(rotation(impls, 1), ['plugin', 'rabbitmq-client', 'channel-wrapper', 'raw'])
  t.same(rotation(impls, 2), ['rabbitmq-client', 'channel-wrapper', 'raw', 'plugin'])
  t.same(rotation(impls, 3), ['channel-wrapper', 'raw', 'plugin', 'rabbitmq-client'])
  t.same(rotation(impls, 4), rotation(impls, 0), 'the fifth round starts over')
  for (const impl of impls) {
    const positions = [0, 1, 2, 3].map((r) => rotation(impls, r).indexOf(impl)).sort()
    t.same(positions, [0, 1, 2, 3], `${impl} runs once in each position`)
  }
  t.same(rotation(['plugin', 'raw'], 1), ['raw', 'plugin'], 'two implementations alternate, as before')
  t.same(rotation([], 3), [])
})

t.test('the ratio is the median of the per-round ratios, not the ratio of the medians, with their min and max', async (t) => {
  // Round by round the plugin runs at 0.5×, 2× and 3× raw: the median of those is 2,
  // while the ratio of the medians would be 30 / 20 = 1.5.
  const f = summarize(row({ samples: { plugin: [10, 40, 30], raw: [20, 20, 10] } }))
  t.same(f.ratios?.plugin.rounds, [0.5, 2, 3])
  t.equal(f.ratio, 2, 'median of 0.5, 2 and 3')
  t.not(f.ratio, f.medians.plugin / f.medians.raw, 'not median(plugin) / median(raw) = 1.5')
  t.same(f.ratioRange, [0.5, 3])
})

t.test('a failed round (NaN) or a zero baseline is left out of the ratios', async (t) => {
  const r = roundRatios([10, NaN, 30, 8], [10, 10, 0, 4])
  t.ok(r)
  t.same(r!.rounds.map((x) => (Number.isNaN(x) ? 'NaN' : x)), [1, 'NaN', 'NaN', 2])
  t.equal(r!.median, 1.5)
  t.equal(r!.min, 1)
  t.equal(r!.max, 2)
  t.equal(roundRatios([NaN], [1]), undefined, 'no valid round: no ratio')
})

t.test('every implementation gets its ratios to the baseline; a ratio goal is judged on the plugin\'s median', async (t) => {
  const f = summarize(row({
    samples: { raw: [100, 100], plugin: [95, 105], 'rabbitmq-client': [50, 60] },
    goal: { ratioAtLeast: 0.95 }
  }))
  t.same(Object.keys(f.ratios ?? {}).sort(), ['plugin', 'rabbitmq-client'])
  t.equal(f.ratios!['rabbitmq-client'].median, 0.55)
  t.equal(f.ratio, 1)
  t.equal(f.met, true)
  t.equal(f.target, '≥ 0.95× raw')
  t.equal(summarize(row({ samples: { plugin: [1], raw: [1] }, noRatio: true })).ratio, undefined, 'noRatio: none')
})

t.test('a ceiling on the ratio (CPU, latency) is met at or below it, judged on the median of the per-round ratios', async (t) => {
  const cpu = (plugin: number[]) => summarize(row({ unit: 'µs', better: 'lower', samples: { raw: [10, 10, 10], plugin }, goal: { ratioAtMost: 1.05 } }))
  const under = cpu([10.4, 10.6, 9.9])
  t.equal(under.target, '≤ 1.05× raw')
  t.equal(under.ratio, 1.04)
  t.equal(under.met, true)
  const over = cpu([10.6, 10.7, 9.9])
  t.equal(over.ratio, 1.06)
  t.equal(over.met, false, 'a median ratio of 1.06 misses 1.05')
})

t.test('a ratio prints with the range of its rounds, unless they all agree', async (t) => {
  t.equal(ratioText({ median: 1.0234, min: 0.98, max: 1.051 }), '1.02 (0.98–1.05)')
  t.equal(ratioText({ median: 1.001, min: 1.0, max: 1.004 }), '1.00')
})

t.test('the peers table has a line per client and n/a where a client lacks the feature', async (t) => {
  const figures = [
    summarize(row({ id: 'publish', samples: { raw: [100, 100], plugin: [100, 98], 'rabbitmq-client': [97, 101], 'channel-wrapper': [102, 104] } })),
    summarize(row({ id: 'rpc-client-cpu', unit: 'µs', better: 'lower', samples: { raw: [35, 35], plugin: [50, 54], 'rabbitmq-client': [100, 100] } }))
  ]
  const labels = { raw: 'raw amqplib', plugin: 'this plugin', 'rabbitmq-client': 'rabbitmq-client 5', 'channel-wrapper': 'ChannelWrapper' }
  const rows = peersRows(figures, ['raw', 'plugin', 'rabbitmq-client', 'channel-wrapper'], labels)
  t.same(rows, [
    ['client', 'publish ×raw', 'RPC client CPU ×raw'],
    ['raw amqplib', '1.00 (100 msg/s)', '1.00 (35.0 µs)'],
    ['this plugin', '0.99 (0.98–1.00)', '1.49 (1.43–1.54)'],
    ['rabbitmq-client 5', '0.99 (0.97–1.01)', '2.86'],
    ['ChannelWrapper', '1.03 (1.02–1.04)', 'n/a']
  ], 'only the columns measured; the baseline in its unit, the others as ratios')
  const text = textGrid(rows!)
  t.match(text, /^client\s+publish ×raw\s+RPC client CPU ×raw\n-+/)
  t.match(text, /\nChannelWrapper\s+1\.03 \(1\.02–1\.04\)\s+n\/a$/, 'numbers aligned to the right')
  t.equal(markdownGrid(rows!).split('\n')[1], '| --- | --- | --- |')
  t.equal(peersRows([summarize(row({ id: 'publish', samples: { raw: [1], plugin: [1] } }))], ['raw', 'plugin'], labels), undefined,
    'no table without a peer')
})

t.test('an HTTP row is judged plugin against raw, with the bare route beside them for information, in the table and the chart', async (t) => {
  const figures = [['http', 'Fastify'], ['http-express', 'Express']].map(([id, host]) => summarize(row({
    id,
    title: `HTTP POST, ${host}`,
    unit: 'req/s',
    samples: { plugin: [95, 99], raw: [100, 100], bare: [300, 300] },
    goal: { ratioAtLeast: 0.95 }
  })))
  for (const f of figures) {
    t.equal(f.ratio!.toFixed(2), '0.97', `${f.id}: plugin over raw, not over bare`)
    t.same(f.ratioRange, [0.95, 0.99])
    t.equal(f.target, '≥ 0.95× raw')
    t.equal(f.met, true)
    t.equal(f.ratios?.bare.median, 3, 'bare gets a ratio too, which judges nothing')
  }
  const text = textTable(figures)
  t.match(text, /\nHTTP POST, Fastify\s+req\/s\s+97\s+100\s+300\s+0\.97 \(0\.95–0\.99\)\s+≥ 0\.95× raw\s+yes\n/)
  t.match(text, /\nHTTP POST, Express\s+req\/s\s+97\s+100\s+300\s+0\.97 \(0\.95–0\.99\)\s+≥ 0\.95× raw\s+yes\n/)
  const svg = chart(figures, 'a run')
  t.ok(svg.includes('HTTP POST, Fastify') && svg.includes('HTTP POST, Express'), 'both rows are charted')
  t.equal(svg.match(/>bare</g)?.length, 2, 'each with its bare bar')
  t.equal(svg.match(/plugin\/raw 0\.97/g)?.length, 2, 'and its ratio to raw')
  t.equal(peersRows(figures, ['raw', 'plugin', 'rabbitmq-client'], {}), undefined, 'the HTTP rows are not in the peers table')
})

t.test('a curve has the median and the per-round ratios at each point, and prints as a table', async (t) => {
  const c = summarizeCurve({
    id: 'size-rate',
    title: 'publish by size',
    xTitle: 'size',
    unit: 'msg/s',
    better: 'higher',
    baseline: 'raw',
    points: [
      { x: 100, label: '100 B', samples: { plugin: [90, 110], raw: [100, 100] } },
      { x: 4096, label: '4 KB', samples: { plugin: [50], raw: [40] } }
    ]
  })
  t.same(c.points.map((p) => p.ratios?.plugin.median), [1, 1.25])
  t.same(c.points[0].medians, { plugin: 100, raw: 100 })
  const text = curvesText([c])
  t.match(text, /size\s+plugin \(msg\/s\)\s+raw \(msg\/s\)\s+plugin\/raw/)
  t.match(text, /4 KB\s+50\s+40\s+1\.25/)
})

t.test('the size curve sends bodies of exactly the size on its axis', async (t) => {
  for (const bytes of [100, 4096, 65536, 2 ** 20]) t.equal(Buffer.byteLength(JSON.stringify(bodyOfSize(bytes))), bytes)
  t.throws(() => bodyOfSize(5))
  t.same([100, 4096, 65536, 2 ** 20].map(sizeLabel), ['100 B', '4 KB', '64 KB', '1 MB'])
  t.same([100, 4096, 65536, 2 ** 20].map((b) => messagesAtSize(20_000, b)), [20_000, 20_000, 3125, 195])
  t.equal(messagesAtSize(1000, 2 ** 20), 10, 'at least 10')
})

t.test('CPU times are read from /proc text, the command name may hold spaces and parentheses', async (t) => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const stat = '2959 (beam.smp (x) y) S 1 2959 2959 0 -1 4194560 100 0 0 0 1500 250 0 0 20 0 30 0'
  t.equal(parseProcStat(stat, 100), 17.5, '(1500 + 250) ticks at 100 a second')
  t.equal(parseMachineStat('cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n', 100), 1.5, 'busy = all but idle and iowait')
  const ss = [
    'State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process',
    'LISTEN 0      128        127.0.0.1:25672      0.0.0.0:*    users:(("beam.smp",pid=2959,fd=17))',
    'LISTEN 0      128        127.0.0.1:5672       0.0.0.0:*    users:(("beam.smp",pid=2959,fd=35))',
    'LISTEN 0      128        127.0.0.1:5673       0.0.0.0:*    users:(("beam.smp",pid=4000,fd=35))'
  ].join('\n')
  t.equal(pidListening(ss, 5672), 2959)
  t.equal(pidListening(ss, 5673), 4000)
  t.equal(pidListening(ss, 5674), undefined)
})

t.test('the verdict names what saturates: a worker, the machine, the broker, or nothing', async (t) => {
  t.equal(saturation({ broker: 0.5, workers: [0.95, 0.2], machine: 1.6, cpus: 2 }).bound, 'client')
  t.equal(saturation({ broker: 0.6, workers: [0.5, 0.5], machine: 1.9, cpus: 2 }).bound, 'machine')
  t.equal(saturation({ broker: 0.95, workers: [0.3], machine: 1.3, cpus: 4 }).bound, 'broker')
  t.equal(saturation({ broker: 0.3, workers: [0.3], machine: 0.7, cpus: 2 }).bound, 'none')
  t.equal(saturation({ broker: NaN, workers: [0.3], machine: 0.7, cpus: 2 }).bound, 'unknown')
  t.match(saturation({ broker: 0.3, workers: [0.3], machine: 0.7, cpus: 2 }).text, /broker 0\.30 cores, busiest worker 0\.30, machine 0\.70 of 2/)
})

t.test('an axis ends on a round number at or above the largest value', async (t) => {
  t.same([0, 0.4, 1, 3, 7, 12, 20_627].map(niceMax), [1, 0.5, 1, 5, 10, 20, 50_000])
})
