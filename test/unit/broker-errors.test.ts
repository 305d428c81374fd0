import t from 'tap'
import { fatalConnectError, messageTooLarge, mismatchError, missingExchange } from '../../lib/core/broker-errors'

/*
 * Every string here is what RabbitMQ 3.10.8 sent, as amqplib 2.3 reports it
 * (captured from a real broker), so a broker or amqplib upgrade that rewords
 * one fails here first.
 */
const err = (message: string, code?: number) => Object.assign(new Error(message), { code })

t.test('missingExchange() names the exchange from a 404, whether a check or a publish closed the channel', async (t) => {
  t.equal(missingExchange(err('Operation failed: ExchangeDeclare; 404 (NOT-FOUND) with message "NOT_FOUND - no exchange \'orders.v2\' in vhost \'/\'"', 404)), 'orders.v2')
  t.equal(missingExchange(err('Channel closed by server: 404 (NOT-FOUND) with message "NOT_FOUND - no exchange \'a b\' in vhost \'shop\'"', 404)), 'a b')
  t.equal(missingExchange(err('Channel closed by server: 404 (NOT-FOUND) with message "NOT_FOUND - no queue \'q\' in vhost \'/\'"', 404)), undefined, 'a missing queue is not a missing exchange')
  t.equal(missingExchange(err('no exchange \'x\' in vhost \'/\'', 406)), undefined, 'only a 404 counts')
  t.equal(missingExchange(undefined), undefined)
  t.equal(missingExchange({ code: 404, get message (): string { throw new Error('hostile getter') } }), undefined, 'never throws')
})

t.test('messageTooLarge() reads the size and the broker\'s limit from its max_message_size close', async (t) => {
  // rabbit_channel:check_msg_size, 3.10: "configured" only when the limit is not the 512 MiB ceiling.
  t.same(messageTooLarge(err('Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - message size 2097152 is larger than configured max size 1048576"', 406)), { size: 2097152, max: 1048576 })
  t.same(messageTooLarge(err('Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - message size 536870913 is larger than max size 536870912"', 406)), { size: 536870913, max: 536870912 })
  t.equal(messageTooLarge(err('Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'durable\' for queue \'q\' in vhost \'/\': received \'false\' but current is \'true\'"', 406)), undefined)
  t.equal(messageTooLarge(err('channel closed')), undefined)
})

t.test('mismatchError() turns each kind of 406 inequivalent arg into FST_AMQP_TOPOLOGY_MISMATCH naming the argument and both values', async (t) => {
  const cases: Array<[string, Record<string, string>]> = [
    ['Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'x-max-length\' for queue \'orders\' in vhost \'/\': received \'20\' but current is \'10\'"',
      { queue: 'orders', argument: 'x-max-length', expected: '20', actual: '10' }],
    ['Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'x-max-length\' for queue \'orders\' in vhost \'/\': received none but current is the value \'10\' of type \'byte\'"',
      { queue: 'orders', argument: 'x-max-length', expected: '(not set)', actual: '10 (byte)' }],
    ['Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'durable\' for queue \'orders\' in vhost \'/\': received \'false\' but current is \'true\'"',
      { queue: 'orders', argument: 'durable', expected: 'false', actual: 'true' }],
    ['Operation failed: ExchangeDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'type\' for exchange \'logs\' in vhost \'/\': received \'fanout\' but current is \'topic\'"',
      { exchange: 'logs', argument: 'type', expected: 'fanout', actual: 'topic' }],
    ['Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'x-queue-type\' for queue \'orders\' in vhost \'/\': received the value \'quorum\' of type \'longstr\' but current is none"',
      { queue: 'orders', argument: 'x-queue-type', expected: 'quorum (longstr)', actual: '(not set)' }]
  ]
  for (const [text, fields] of cases) {
    const e = mismatchError(err(text, 406)) as Error & Record<string, unknown>
    t.equal(e?.code, 'FST_AMQP_TOPOLOGY_MISMATCH', fields.argument)
    t.match(e, fields)
  }
  t.equal(mismatchError(err('Operation failed: QueueDeclare; 405 (RESOURCE-LOCKED) with message "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue \'q\' in vhost \'/\'"', 405)), undefined)
})

t.test('fatalConnectError() tells bad credentials and a refused virtual host from errors worth retrying', async (t) => {
  const refused = fatalConnectError(err('Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."'), 'amqp://guest:***@h')
  t.equal((refused as { code?: string })?.code, 'FST_AMQP_ACCESS_REFUSED')
  const vhost = fatalConnectError(err('Expected ConnectionOpenOk; got <ConnectionClose channel:0>'), 'amqp://h/nope')
  t.equal((vhost as { code?: string })?.code, 'FST_AMQP_VHOST_NOT_ALLOWED')
  t.equal(fatalConnectError(err('connect ECONNREFUSED 127.0.0.1:5672'), 'u'), undefined)
  t.equal(fatalConnectError(err('getaddrinfo ENOTFOUND not-allowed.example'), 'u'), undefined, 'a host name is not read as a refusal')
  t.equal(fatalConnectError(err('Socket closed abruptly during opening handshake'), 'u'), undefined)
})
