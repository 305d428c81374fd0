import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/*
 * Certificates made by openssl for the TLS tests, in a temp folder of their
 * own: a CA, a server certificate for localhost and 127.0.0.1 signed by it,
 * client certificates, and a second, unrelated CA. EC keys, so that making
 * them all takes a fraction of a second.
 */

/** A certificate and its key, as PEM files (and their text). */
export interface CertFiles {
  certFile: string
  keyFile: string
  cert: string
  key: string
}

export interface Certs {
  dir: string
  /** The CA that signed the server's and the client's certificates. */
  ca: CertFiles
  /** CN=localhost, subjectAltName localhost and 127.0.0.1, signed by `ca`. */
  server: CertFiles
  /** The server's certificate followed by the CA's: a full chain. */
  serverChain: string
  /** Like `server`, but expired. */
  expired: CertFiles
  /** A client certificate (CN given to makeCerts), signed by `ca`. */
  client: CertFiles
  /** The client key encrypted with `passphrase`. */
  clientKeyEncrypted: string
  /** The client certificate and key (and the CA) in PKCS#12, encrypted with `passphrase`. */
  clientPfx: Buffer
  passphrase: string
  /** A CA that signed nothing here. */
  otherCa: CertFiles
  /** A client certificate signed by `otherCa`. */
  otherClient: CertFiles
  /** Removes the folder. */
  remove (): void
}

function openssl (cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

/** Makes the certificates in a new temp folder; `clientCn` names the client certificate (RabbitMQ's user for EXTERNAL). */
export function makeCerts (clientCn = 'guest', passphrase = 'correct horse battery staple'): Certs {
  const dir = mkdtempSync(join(tmpdir(), 'warren-tls-'))
  const read = (name: string): CertFiles => ({
    certFile: join(dir, `${name}.pem`),
    keyFile: join(dir, `${name}.key`),
    cert: readFileSync(join(dir, `${name}.pem`), 'utf8'),
    key: readFileSync(join(dir, `${name}.key`), 'utf8')
  })
  const ca = (name: string, cn: string): CertFiles => {
    openssl(dir, ['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '30', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
    return read(name)
  }
  let serial = 1
  const leaf = (name: string, cn: string, by: string, ext: string, days = '30'): CertFiles => {
    writeFileSync(join(dir, `${name}.ext`), ext)
    openssl(dir, ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`])
    // -days -1: valid from now until yesterday, which every client reads as expired.
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${by}.pem`, '-CAkey', `${by}.key`, '-set_serial', String(serial++),
      '-days', days, '-extfile', `${name}.ext`, '-out', `${name}.pem`])
    return read(name)
  }
  const serverExt = 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n'
  const clientExt = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'
  try {
    const caFiles = ca('ca', 'fastify-warren test CA')
    const otherCa = ca('other-ca', 'fastify-warren unrelated CA')
    const server = leaf('server', 'localhost', 'ca', serverExt)
    const expired = leaf('expired', 'localhost', 'ca', serverExt, '-1')
    const client = leaf('client', clientCn, 'ca', clientExt)
    const otherClient = leaf('other-client', clientCn, 'other-ca', clientExt)
    openssl(dir, ['pkey', '-in', 'client.key', '-aes256', '-passout', `pass:${passphrase}`, '-out', 'client.enc.key'])
    openssl(dir, ['pkcs12', '-export', '-in', 'client.pem', '-inkey', 'client.key', '-certfile', 'ca.pem', '-passout', `pass:${passphrase}`, '-out', 'client.p12'])
    return {
      dir,
      ca: caFiles,
      server,
      serverChain: server.cert + caFiles.cert,
      expired,
      client,
      clientKeyEncrypted: readFileSync(join(dir, 'client.enc.key'), 'utf8'),
      clientPfx: readFileSync(join(dir, 'client.p12')),
      passphrase,
      otherCa,
      otherClient,
      remove: () => rmSync(dir, { recursive: true, force: true })
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}
