import type { ConsumeMessage } from 'amqplib'
import type { Outgoing } from './envelope'
import { FST_AMQP_RPC_TIMEOUT } from './errors'
import { invalidReply, type Checked } from '../contracts/validate'
import { callerStack, withOrigin, type Call, type RpcClient } from './rpc'
import type { GatherFailure, GatherReply, GatherResult } from './types'

/**
 * @internal
 * Scatter-gather: one request to every queue bound to the routing key, and
 * every reply collected until `expect` is met or the deadline passes. Once the
 * request is out it always resolves, with what arrived (partial results are
 * the point); it rejects only when the request could not be sent, or was not
 * sent by the deadline. `heard` is told of each reply as it arrives (for the trace).
 */
export function gather (
  client: RpcClient,
  call: Call,
  message: Outgoing,
  expect: number | string[] | undefined,
  heard?: (from: string) => void
): Promise<GatherResult> {
  const origin = callerStack(gather, 'gather()')
  const replies: GatherReply[] = []
  const failed: GatherFailure[] = []
  const waitingFor = Array.isArray(expect) ? new Set(expect) : undefined
  const expected = Array.isArray(expect) ? expect.length : expect

  const isComplete = (): boolean => waitingFor
    ? waitingFor.size === 0
    : expected !== undefined && replies.length + failed.length >= expected

  return new Promise((resolve, reject) => {
    const finish = (): void => resolve({
      replies,
      failed,
      missing: waitingFor ? [...waitingFor] : [],
      complete: isComplete()
    })
    /** Replies whose schema check has not settled yet (an asynchronous Standard Schema). */
    let checking = 0
    const record = (from: string, checked: Checked): void => {
      if (checked.ok) replies.push({ from, body: checked.value })
      else failed.push({ from, error: withOrigin(invalidReply(call.routingKey, checked.issues), origin) })
    }
    /** Counts one answer from `from`; true (and resolved) once enough have come. */
    const answered = (from: string): boolean => {
      waitingFor?.delete(from)
      if (!isComplete() || checking > 0) return false
      finish()
      return true
    }
    client.call(call, message, {
      reply (msg: ConsumeMessage) {
        const from = typeof msg.properties.appId === 'string' ? msg.properties.appId : ''
        heard?.(from)
        let body: unknown
        try {
          body = client.envelope.openReply(msg, call.routingKey)
        } catch (err) {
          failed.push({ from, error: withOrigin(err as Error, origin) })
          return answered(from)
        }
        if (call.reply === undefined) {
          replies.push({ from, body })
          return answered(from)
        }
        const checked = call.reply(body)
        if (!(checked instanceof Promise)) {
          record(from, checked)
          return answered(from)
        }
        checking++
        checked.then((c) => {
          checking--
          record(from, c)
          answered(from)
        }, () => { checking-- })
        return false
      },
      timeout: (sent) => {
        if (sent || replies.length + failed.length > 0) return finish()
        reject(withOrigin(new FST_AMQP_RPC_TIMEOUT(call.routingKey, call.timeout), origin))
      },
      lost: finish,
      closed: finish,
      failed: (err) => reject(withOrigin(err, origin))
    })
  })
}
