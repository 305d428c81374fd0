import { readFileSync } from 'node:fs'
import net from 'node:net'

/*
 * Ports for servers a test starts itself (RabbitMQ nodes, example services).
 * The usual trick, listening on port 0 and closing, hands out a port from the
 * kernel's ephemeral range, the one outgoing connections take their local
 * port from: between the check and the server's own listen, seconds for a
 * RabbitMQ node, a connection may take it, and the server fails with
 * EADDRINUSE. So the ports come from below that range, are checked free on
 * every address, and are never handed out twice in one process.
 */

const LOWEST = 20000
const given = new Set<number>()

/** The first port of the ephemeral range (Linux), or of every system's default one. */
function ephemeralStart (): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    if (Number.isInteger(first) && first > LOWEST + 1000) return Math.min(first, 32768)
  } catch {}
  return 32768
}

const HIGHEST = ephemeralStart() - 1

/** Whether a server can listen on `port` on every address, IPv6 and IPv4 (as RabbitMQ does). */
async function canListen (port: number, host: string): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', (err: NodeJS.ErrnoException) => {
      // No IPv6 on this machine: ask on IPv4's every address instead.
      if (host === '::' && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) resolve(canListen(port, '0.0.0.0'))
      else resolve(false)
    })
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)))
  })
}

/**
 * A TCP port nobody listens on now, outside the ephemeral range, and not
 * handed out before by this process.
 */
export async function freePort (): Promise<number> {
  for (let tries = 0; tries < 1000; tries++) {
    const port = LOWEST + Math.floor(Math.random() * (HIGHEST - LOWEST + 1))
    if (given.has(port)) continue
    given.add(port)
    if (await canListen(port, '::')) return port
  }
  throw new Error(`no free port between ${LOWEST} and ${HIGHEST}`)
}
