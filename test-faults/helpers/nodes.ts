import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../test/free-port'

/*
 * RabbitMQ nodes of a test's own, beside the shared broker on 5672: each has
 * its own node name, AMQP and distribution ports, data folder and Erlang
 * cookie, and runs in the foreground as a child of the test process, so that
 * `kill()` is a real `kill -9` of the node. They never touch the shared
 * broker: its node name (rabbit@localhost), ports and cookie are not used.
 * Every node is killed and its folder removed when the test ends, or when the
 * process exits however it exits.
 */

const BIN = '/usr/lib/rabbitmq/bin'
const live = new Set<RabbitNode>()

process.on('exit', () => {
  for (const node of live) node.killNow()
})

/** Whether something accepts connections on `port`. */
function answers (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

export interface NodeOptions {
  /** Short name, made unique: the node is `<name>-<random>@localhost`. */
  name: string
  /** Extra lines for rabbitmq.conf (listeners, ssl_options, ...). */
  config?: string[]
  /** Plugins to enable, e.g. rabbitmq_auth_mechanism_ssl. */
  plugins?: string[]
  /** The Erlang cookie: nodes of one cluster share it. */
  cookie?: string
  /** The AMQP port: a free one by default. `config` may add more listeners. */
  port?: number
  /** Whether the node opens a plain AMQP listener on `port`. @default true */
  amqp?: boolean
}

/** One RabbitMQ node of the test's own. */
export class RabbitNode {
  readonly node: string
  readonly dir: string
  private child: ChildProcess | undefined
  private exited: Promise<void> | undefined
  /** What the node printed (its console log, warnings and up), last runs included. */
  private readonly output: string[] = []

  constructor (readonly port: number, private readonly distPort: number, private readonly o: NodeOptions, readonly cookie: string) {
    this.node = `${o.name}-${randomBytes(3).toString('hex')}@localhost`
    this.dir = mkdtempSync(join(tmpdir(), `warren-node-${o.name}-`))
    mkdirSync(join(this.dir, 'home'))
    const cookieFile = join(this.dir, 'home', '.erlang.cookie')
    writeFileSync(cookieFile, cookie)
    chmodSync(cookieFile, 0o400)
    const plugins = o.plugins ?? []
    writeFileSync(join(this.dir, 'enabled_plugins'), `[${plugins.join(',')}].\n`)
    const lines = [
      ...(o.amqp === false ? ['listeners.tcp = none'] : [`listeners.tcp.default = ${port}`]),
      'loopback_users = none',
      // Tests kill nodes: do not let a lost quorum peer stall a shutdown for long.
      'log.console = true',
      'log.console.level = warning',
      'log.file = false',
      ...(o.config ?? [])
    ]
    writeFileSync(join(this.dir, 'rabbitmq.conf'), lines.join('\n') + '\n')
  }

  /** amqp://guest:guest@127.0.0.1:<port> */
  get url (): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`
  }

  private get env (): NodeJS.ProcessEnv {
    return {
      ...process.env,
      HOME: join(this.dir, 'home'),
      RABBITMQ_NODENAME: this.node,
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.dir, 'log'),
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
      RABBITMQ_PID_FILE: join(this.dir, 'pid'),
      // No advanced.config or env file of the shared broker's.
      RABBITMQ_ADVANCED_CONFIG_FILE: join(this.dir, 'advanced.config'),
      RABBITMQ_CONF_ENV_FILE: join(this.dir, 'rabbitmq-env.conf')
    }
  }

  /** Starts the node (again, after stop() or kill()) and waits until it runs. */
  async start (timeout = 60000): Promise<void> {
    if (this.child !== undefined) return
    live.add(this)
    const output = this.output
    const child = spawn(`${BIN}/rabbitmq-server`, [], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()))
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()))
    this.exited = new Promise((resolve) => child.once('exit', () => {
      this.child = undefined
      resolve()
    }))
    // await_startup fails at once until the node has registered with epmd: ask until it answers.
    const deadline = Date.now() + timeout
    for (;;) {
      try {
        await this.ctl(['await_startup', '--timeout', String(Math.ceil(timeout / 1000))], timeout + 5000)
        break
      } catch (err) {
        if (this.child === undefined || Date.now() > deadline) {
          throw new Error(`node ${this.node} did not start: ${(err as Error).message.slice(0, 300)}\n${output.join('').slice(-2000)}`)
        }
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    }
    if (this.o.amqp !== false) {
      const deadline = Date.now() + 10000
      while (!(await answers(this.port))) {
        if (Date.now() > deadline) throw new Error(`node ${this.node} does not listen on ${this.port}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }

  /** The end of what the node has printed (its log at warning and above), for a failing test's report. */
  logTail (chars = 4000): string {
    return this.output.join('').slice(-chars)
  }

  /** Runs rabbitmqctl (or another CLI tool) against this node. */
  ctl (args: string[], timeout = 60000, tool = 'rabbitmqctl'): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(`${BIN}/${tool}`, ['-q', '-n', this.node, ...args], { env: this.env, timeout }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${tool} ${args.join(' ')}: ${stderr || err.message}`))
        else resolve(stdout)
      })
    })
  }

  /** The operating system pid of the node's Erlang VM. */
  get pid (): number | undefined {
    try {
      return Number(readFileSync(join(this.dir, 'pid'), 'utf8').trim())
    } catch {
      return undefined
    }
  }

  /** Stops the node cleanly. */
  async stop (): Promise<void> {
    if (this.child === undefined) return
    await this.ctl(['stop']).catch(() => this.killNow())
    await this.exited
  }

  /** kill -9 of the node's VM: no goodbye to its clients or its cluster. */
  async kill (): Promise<void> {
    this.killNow()
    await this.exited
  }

  /** @internal Synchronous kill, for the process's exit. */
  killNow (): void {
    const pid = this.pid
    try {
      if (pid !== undefined && pid > 0) process.kill(pid, 'SIGKILL')
    } catch {}
    try {
      this.child?.kill('SIGKILL')
    } catch {}
  }

  /** Kills the node and removes its folder. */
  async destroy (): Promise<void> {
    if (this.child !== undefined) await this.kill()
    live.delete(this)
    rmSync(this.dir, { recursive: true, force: true })
  }
}

interface TestLike { teardown (fn: () => unknown): void }

/** Makes a node (not started) that the test destroys when it ends. */
export async function makeNode (t: TestLike, o: NodeOptions & { cookie?: string }): Promise<RabbitNode> {
  const node = new RabbitNode(o.port ?? await freePort(), await freePort(), o, o.cookie ?? randomBytes(16).toString('hex'))
  t.teardown(() => node.destroy())
  return node
}

/** Makes and starts a node that the test destroys when it ends. */
export async function startNode (t: TestLike, o: NodeOptions): Promise<RabbitNode> {
  const node = await makeNode(t, o)
  await node.start()
  return node
}

/**
 * Starts `size` nodes and joins them into one cluster, the first node being
 * the one the others join. Resolves with the nodes, all running.
 */
export async function startCluster (t: TestLike, name: string, size = 3, config: string[] = []): Promise<RabbitNode[]> {
  const cookie = randomBytes(16).toString('hex')
  const nodes: RabbitNode[] = []
  for (let i = 0; i < size; i++) nodes.push(await makeNode(t, { name: `${name}${i + 1}`, cookie, config }))
  await Promise.all(nodes.map((n) => n.start()))
  for (const n of nodes.slice(1)) {
    await n.ctl(['stop_app'])
    await n.ctl(['join_cluster', nodes[0].node])
    await n.ctl(['start_app'])
    await n.ctl(['await_startup', '--timeout', '60'])
  }
  const status = await nodes[0].ctl(['cluster_status', '--formatter', 'json'])
  const running = (JSON.parse(status) as { running_nodes: string[] }).running_nodes
  if (running.length !== size) throw new Error(`cluster of ${size} has ${running.length} running nodes: ${running.join(', ')}`)
  return nodes
}

/** Whether this machine can start nodes of its own (the RabbitMQ scripts are there). */
export function canStartNodes (): boolean {
  try {
    execFileSync(`${BIN}/rabbitmqctl`, ['version'], { stdio: 'ignore', env: { ...process.env, HOME: tmpdir() } })
    return true
  } catch {
    return false
  }
}
