import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'

/*
 * Smoke test of `npm run bench`: tiny counts, one round, and every scenario
 * must report its figures. Timings are never asserted: this machine is
 * shared, and a test that fails when it is busy tests nothing.
 */

// Every scenario, the child-process ones included, at tiny counts: well past tap's default file timeout on a busy machine.
t.setTimeout(300_000)

const ROOT = join(__dirname, '..', '..')

interface Figure {
  id: string
  title: string
  unit: string
  samples: Record<string, Array<number | null>>
  medians: Record<string, number | null>
  note?: string
  met?: boolean
}

function runBench (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', join(ROOT, 'bench', 'index.ts'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => { stdout += chunk })
    child.stderr.on('data', (chunk) => { stderr += chunk })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

t.test('npm run bench --quick reports every scenario for the plugin and raw amqplib, as a table, JSON and a chart', async (t) => {
  t.setTimeout(240_000)
  const dir = t.testdir()
  const json = join(dir, 'bench.json')
  const svg = join(dir, 'bench.svg')
  const { code, stdout, stderr } = await runBench(['--quick', '--rounds', '1', '--memory-messages', '5000', '--json', json, '--svg', svg])
  t.equal(code, 0, 'the bench exits 0', { stderr: stderr.slice(-3000) })

  const report = JSON.parse(await readFile(json, 'utf8')) as { figures: Figure[], broker: string, machine: { node: string } }
  t.match(report.broker, /RabbitMQ/)
  t.equal(report.machine.node, process.version)
  const byId = new Map(report.figures.map((f) => [f.id, f]))
  const expected: Record<string, string[]> = {
    publish: ['plugin', 'raw'],
    consume: ['plugin', 'raw'],
    'rpc-throughput': ['plugin', 'raw'],
    'rpc-p50': ['plugin', 'raw'],
    'rpc-p99': ['plugin', 'raw'],
    http: ['plugin', 'raw', 'bare'],
    'http-express': ['plugin', 'raw', 'bare'],
    'memory-rss-growth': ['plugin', 'raw'],
    'memory-heap-growth': ['plugin', 'raw'],
    'memory-rss-peak': ['plugin', 'raw']
  }
  for (const [id, impls] of Object.entries(expected)) {
    const figure = byId.get(id)
    if (!t.ok(figure, `${id} is reported`) || !figure) continue
    t.ok(stdout.includes(figure.title), `${id} is in the printed table`)
    for (const impl of impls) {
      const values = figure.samples[impl]
      t.equal(values?.length, 1, `${id}: one round of ${impl}`)
      const value = values?.[0]
      // A consumer that stalls is reported as such (null in JSON) with a note saying so; anything else is a number.
      if (value === null && id === 'consume' && impl === 'plugin') {
        t.match(figure.note, /stalled/, 'a stalled round is explained')
      } else {
        t.type(value, 'number', `${id}: ${impl} has a figure`)
        t.ok(Number.isFinite(value), `${id}: ${impl} is finite`)
      }
    }
  }
  t.type(byId.get('memory-rss-growth')?.met, 'boolean', 'the memory scenario says whether RSS levels off')
  t.type(byId.get('publish')?.met, 'boolean', 'a target verdict is given')

  const chart = await readFile(svg, 'utf8')
  t.match(chart, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  t.match(chart, /<\/svg>\n$/)
  t.ok(chart.includes('plugin') && chart.includes('raw'), 'the chart shows both implementations')
})

t.test('the bench rejects an unknown scenario with its usage', async (t) => {
  const { code, stderr } = await runBench(['--only', 'nope'])
  t.equal(code, 2)
  t.match(stderr, /unknown scenario "nope"/)
  t.match(stderr, /Usage: npm run bench/)
})
