/*
 * The broker's CPU and the whole machine's, read from /proc over a timed
 * window, to say what saturates when consumers are added: the broker, a
 * client process, or the machine itself. Linux only; elsewhere, or when the
 * broker is not a process on this machine, the readings are undefined.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** Clock ticks per second, the unit of /proc's CPU times (100 on Linux, whatever the kernel's HZ). */
function clockTicks (): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
}

const TICKS = clockTicks()

/** The pid of the beam.smp listening on `port`, from the output of `ss -ltnp`. */
export function pidListening (ss: string, port: number): number | undefined {
  for (const line of ss.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (!fields.some((f) => f.endsWith(`:${port}`))) continue
    const m = /"beam\.smp",pid=(\d+)/.exec(line)
    if (m) return Number(m[1])
  }
  return undefined
}

/**
 * The pid of the local RabbitMQ that serves `port` (other brokers may run on
 * the machine, for fault tests): the beam.smp listening there, found with
 * `ss`; else the only beam.smp running rabbit, if there is just one.
 */
export function findBrokerPid (port = 5672): number | undefined {
  try {
    const pid = pidListening(execFileSync('ss', ['-ltnp'], { encoding: 'utf8' }), port)
    if (pid) return pid
  } catch {}
  let out = ''
  try {
    out = execFileSync('pgrep', ['-f', 'beam.smp'], { encoding: 'utf8' })
  } catch {
    return undefined
  }
  const rabbits = out.split('\n').map((l) => Number(l.trim())).filter((pid) => {
    try {
      return pid > 0 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('rabbit')
    } catch {
      return false
    }
  })
  return rabbits.length === 1 ? rabbits[0] : undefined
}

/**
 * User + system CPU seconds of a process, from the text of /proc/<pid>/stat:
 * fields 14 and 15 (1-based), counted after the command name in parentheses,
 * which may itself contain spaces.
 */
export function parseProcStat (stat: string, ticks = TICKS): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / ticks
}

/** Busy CPU seconds of the whole machine (all cores), from the first line of /proc/stat. */
export function parseMachineStat (stat: string, ticks = TICKS): number {
  const cpu = stat.split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0)
  return (total - cpu[3] - (cpu[4] ?? 0)) / ticks
}

export interface CpuReading { broker?: number, machine?: number, at: number }

/** The broker's and the machine's CPU seconds so far, and the time. */
export function readCpu (brokerPid: number | undefined): CpuReading {
  const at = performance.now()
  let broker: number | undefined
  let machine: number | undefined
  try { if (brokerPid) broker = parseProcStat(readFileSync(`/proc/${brokerPid}/stat`, 'utf8')) } catch {}
  try { machine = parseMachineStat(readFileSync('/proc/stat', 'utf8')) } catch {}
  return { broker, machine, at }
}

/** Cores used between two readings (CPU seconds over wall seconds): NaN where unknown. */
export function coresBetween (a: CpuReading, b: CpuReading): { broker: number, machine: number } {
  const seconds = (b.at - a.at) / 1000
  const cores = (x?: number, y?: number) => (x === undefined || y === undefined || seconds <= 0 ? NaN : (y - x) / seconds)
  return { broker: cores(a.broker, b.broker), machine: cores(a.machine, b.machine) }
}

export interface Load {
  /** Cores the broker used over the window. */
  broker: number
  /** Cores each worker process used. */
  workers: number[]
  /** Cores the whole machine used (every process, the bench's and others'). */
  machine: number
  /** Cores the machine has. */
  cpus: number
}

/**
 * What bounds the throughput at one point, from the cores each side used:
 * a worker using about a whole core (a Node process runs its JavaScript on
 * one), the machine (nearly every core busy, whoever uses them), the broker
 * (about a core: one queue is one Erlang process), or none of them (the
 * round trips of the prefetch window set the pace).
 */
export function saturation (load: Load, busy = 0.85): { bound: 'client' | 'machine' | 'broker' | 'none' | 'unknown', text: string } {
  const f = (n: number) => n.toFixed(2)
  const busiest = Math.max(...load.workers)
  const parts = `broker ${f(load.broker)} cores, busiest worker ${f(busiest)}, machine ${f(load.machine)} of ${load.cpus}`
  if (busiest >= busy) return { bound: 'client', text: `a worker saturates its core (${parts})` }
  if (load.machine >= busy * load.cpus) return { bound: 'machine', text: `the machine's cores are all busy (${parts})` }
  if (Number.isNaN(load.broker)) return { bound: 'unknown', text: `broker CPU unknown (${parts})` }
  if (load.broker >= busy) return { bound: 'broker', text: `the broker saturates about a core (${parts})` }
  return { bound: 'none', text: `nothing saturates: the prefetch round trips set the pace (${parts})` }
}
