import t from 'tap'
import { readFileSync } from 'node:fs'
import { freePort } from '../free-port'

/** The range the kernel takes local ports of outgoing connections from. */
function ephemeralRange (): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    return [lo, hi]
  } catch {
    return [32768, 65535]
  }
}

t.test('a free port is never one an outgoing connection may take meanwhile', async (t) => {
  // A node started on a port from this range failed with eaddrinuse in CI:
  // between the check and the node's listen, a connection took the port.
  const [lo, hi] = ephemeralRange()
  for (let i = 0; i < 50; i++) {
    const port = await freePort()
    t.ok(port < lo || port > hi, `${port} is outside ${lo}-${hi}`)
  }
})

t.test('ports handed out in one process are all different, even when asked for at once', async (t) => {
  const ports = await Promise.all(Array.from({ length: 200 }, async () => await freePort()))
  t.equal(new Set(ports).size, ports.length)
})
