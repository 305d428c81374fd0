import net from 'node:net'

/**
 * A TCP proxy in front of the broker, in the bench's process, for the
 * memory-cost scenario: `hold()` stops passing what the broker sends (the
 * confirms wait in the kernel, not in the client), `release()` lets it through
 * again; `cut()` destroys every live connection and `refuse()` fails new ones
 * until `accept()` (the client is offline and buffers).
 */
export interface Proxy {
  url: string
  hold: () => void
  release: () => void
  cut: () => void
  refuse: () => void
  accept: () => void
  close: () => Promise<void>
}

export async function startProxy (target: string): Promise<Proxy> {
  const to = new URL(target)
  const pairs = new Set<{ client: net.Socket, upstream: net.Socket }>()
  let refusing = false
  let holding = false
  const server = net.createServer((client) => {
    if (refusing) return client.destroy()
    const upstream = net.connect(Number(to.port || 5672), to.hostname)
    const pair = { client, upstream }
    pairs.add(pair)
    const drop = () => { client.destroy(); upstream.destroy(); pairs.delete(pair) }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.on('data', (d) => upstream.write(d))
    upstream.on('data', (d) => client.write(d))
    if (holding) upstream.pause()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = new URL(target)
  url.hostname = '127.0.0.1'
  url.port = String((server.address() as net.AddressInfo).port)
  return {
    url: url.toString(),
    hold () { holding = true; for (const p of pairs) p.upstream.pause() },
    release () { holding = false; for (const p of pairs) p.upstream.resume() },
    cut () { for (const p of pairs) { p.client.destroy(); p.upstream.destroy() } },
    refuse () { refusing = true },
    accept () { refusing = false },
    close () {
      for (const p of pairs) { p.client.destroy(); p.upstream.destroy() }
      return new Promise((resolve) => server.close(() => resolve()))
    }
  }
}
