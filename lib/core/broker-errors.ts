import {
  FST_AMQP_ACCESS_REFUSED,
  FST_AMQP_HOST_NOT_FOUND,
  FST_AMQP_TLS,
  FST_AMQP_TOPOLOGY_MISMATCH,
  FST_AMQP_VHOST_NOT_ALLOWED
} from './errors'

/*
 * Every reading of the broker's error texts, in one place. RabbitMQ says why
 * it closed a channel or refused a connection only in words; each parser
 * here is unit-tested with the strings RabbitMQ really sends (as amqplib
 * wraps them), so a broker upgrade that rewords one fails a test, not a user.
 */

/** The message of an error, whatever was thrown; never throws itself. */
function textOf (err: unknown): string {
  try {
    return String((err as { message?: unknown } | undefined)?.message ?? '')
  } catch {
    return ''
  }
}

function codeOf (err: unknown): unknown {
  try {
    return (err as { code?: unknown } | undefined)?.code
  } catch {
    return undefined
  }
}

/**
 * @internal
 * The exchange a channel was closed for (`404 NOT_FOUND - no exchange 'x' in
 * vhost '/'`), if that is why.
 */
export function missingExchange (err: unknown): string | undefined {
  if (codeOf(err) !== 404) return undefined
  return /no exchange '(.*)' in vhost/.exec(textOf(err))?.[1]
}

/**
 * @internal
 * The body size and the broker's limit when the broker closed a channel for a
 * message over its `max_message_size` (`406 PRECONDITION_FAILED - message size
 * 2000 is larger than configured max size 1000`).
 */
export function messageTooLarge (err: unknown): { size: number, max: number } | undefined {
  if (codeOf(err) !== 406) return undefined
  const m = /message size (\d+) is larger than (?:configured )?max size (\d+)/.exec(textOf(err))
  return m ? { size: Number(m[1]), max: Number(m[2]) } : undefined
}

/** "'true'" → "true", "the value '1000' of type 'short'" → "1000 (short)", "none" → "(not set)". */
function brokerValue (text: string): string {
  const typed = /^the value '(.*)' of type '([^']*)'$/.exec(text)
  if (typed) return `${typed[1]} (${typed[2]})`
  if (text === 'none') return '(not set)'
  return text.replace(/^'(.*)'$/, '$1')
}

/**
 * @internal
 * The 406 PRECONDITION_FAILED RabbitMQ answers when a queue or exchange exists
 * with other settings, as FST_AMQP_TOPOLOGY_MISMATCH naming the argument, what
 * this service declares and what the broker has; undefined for any other error.
 */
export function mismatchError (err: unknown): Error | undefined {
  const m = /inequivalent arg '([^']+)' for (queue|exchange) '(.*)' in vhost '.*?': received (.+) but current is (.+?)"?$/.exec(textOf(err))
  if (!m) return undefined
  const [, argument, kind, name, received, current] = m
  const expected = brokerValue(received)
  const actual = brokerValue(current)
  return Object.assign(new FST_AMQP_TOPOLOGY_MISMATCH(`${kind === 'queue' ? 'Queue' : 'Exchange'} "${name}"`, argument, actual, argument, expected, { cause: err }), {
    [kind]: name, argument, expected, actual
  })
}

/*
 * Node's certificate verification failures (OpenSSL's X509_V_ERR_* names, as
 * Node gives them in err.code), by what they mean for the user.
 */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA'
])
const BAD_CERT = new Set([
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'CERT_SIGNATURE_FAILURE', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'CERT_CHAIN_TOO_LONG', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE'
])
const WRONG_HOST = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH'])
/** TLS alerts by which the broker refuses this client's certificate (or its absence), or the handshake. */
const REFUSED = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(?:BAD_CERTIFICATE|UNSUPPORTED_CERTIFICATE|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_REQUIRED|UNKNOWN_CA|ACCESS_DENIED|HANDSHAKE_FAILURE|DECRYPT_ERROR|PROTOCOL_VERSION|INSUFFICIENT_SECURITY|UNRECOGNIZED_NAME)$/
/** The other end does not speak TLS, or no version or cipher is common to both. */
const NOT_TLS = /^ERR_SSL_(?:WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE|NO_SHARED_CIPHER|NO_CIPHERS_AVAILABLE)$/

/** Node's TLS error code, its text, and what to check, or undefined if `err` is no verdict on the TLS set-up. */
function tlsReason (err: unknown): string | undefined {
  const code = codeOf(err)
  if (typeof code !== 'string') return undefined
  // OpenSSL's alert texts end with a file and line ("...:SSL alert number 116"): its reason field is enough.
  const reason = (err as { reason?: unknown }).reason
  const text = typeof reason === 'string' && code.startsWith('ERR_SSL_') ? reason : textOf(err).trim()
  const say = (hint: string) => `${code} (${text}): ${hint}`
  if (UNTRUSTED.has(code)) return say('the broker\'s certificate is not signed by a CA this client trusts; give its CA as tls.ca')
  if (BAD_CERT.has(code)) return say('the broker\'s certificate is not valid; renew it on the broker')
  if (WRONG_HOST.has(code)) return say('the broker\'s certificate does not name the host of the URL; connect by a name it lists, or set tls.servername')
  if (REFUSED.test(code)) return say('the broker refused the handshake; it may require a client certificate (tls.cert and tls.key, or tls.pfx) signed by a CA it trusts, or another TLS version')
  if (NOT_TLS.test(code)) return say('the server did not complete a TLS handshake; is the port the broker\'s amqps port (5671), not its plain AMQP one (5672)?')
  return undefined
}

/**
 * @internal
 * The error Node's tls.createSecureContext() threw for the `tls` option's
 * key, certificate or pfx (a wrong passphrase, a key that does not match
 * its certificate...), as FST_AMQP_TLS.
 */
export function tlsSetupError (err: unknown, url: string): Error {
  const code = codeOf(err)
  const text = textOf(err)
  // A wrong passphrase now and then decrypts an encrypted key into bytes that
  // pass the padding check, which OpenSSL then fails to decode (UNSUPPORTED).
  const what = code === 'ERR_OSSL_BAD_DECRYPT' || text === 'mac verify failure'
    ? 'tls.key or tls.pfx could not be decrypted: check tls.passphrase'
    : code === 'ERR_OSSL_UNSUPPORTED'
      ? 'tls.key or tls.pfx could not be read, or decrypted: check that the key is PEM, and tls.passphrase'
      : code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH'
        ? 'tls.key is not the key of tls.cert'
        : 'tls.ca, tls.cert, tls.key or tls.pfx could not be read'
  return new FST_AMQP_TLS(url, `${typeof code === 'string' ? `${code} ` : ''}(${text}): ${what}`, { cause: err })
}

/**
 * @internal
 * A connection error that another attempt on the same URL will not fix, as
 * its coded error; undefined for errors worth retrying. Permanent: bad
 * credentials, a virtual host that does not exist or is not allowed, a
 * broker certificate that is not trusted, not valid or not for this host, a
 * TLS handshake the broker refuses (no client certificate, or one it does
 * not trust), a server that does not speak TLS, and a host name that DNS
 * says does not exist (ENOTFOUND; not EAI_AGAIN, a DNS server that did not
 * answer).
 */
export function fatalConnectError (err: unknown, url: string): Error | undefined {
  const text = textOf(err)
  const tls = tlsReason(err)
  if (tls !== undefined) return new FST_AMQP_TLS(url, tls, { cause: err })
  if (codeOf(err) === 'ENOTFOUND') return new FST_AMQP_HOST_NOT_FOUND(url, text, { cause: err })
  if (/ACCESS[-_]REFUSED/.test(text)) return new FST_AMQP_ACCESS_REFUSED(url, text, { cause: err })
  // amqplib's own check, before it logs in: the broker does not offer EXTERNAL (or PLAIN).
  if (/^SASL mechanism \S+ is not provided by the server$/.test(text)) {
    return new FST_AMQP_ACCESS_REFUSED(url, `${text} (for auth "external", enable rabbitmq_auth_mechanism_ssl and add EXTERNAL to auth_mechanisms)`, { cause: err })
  }
  // The broker answers connection.open, which carries only the virtual host, with
  // connection.close (530 NOT_ALLOWED); amqplib reports it without the reply text.
  if (/NOT[-_]ALLOWED|Expected ConnectionOpenOk; got <ConnectionClose/.test(text)) {
    return new FST_AMQP_VHOST_NOT_ALLOWED(url, 'it does not exist or the user may not open it', { cause: err })
  }
  return undefined
}
