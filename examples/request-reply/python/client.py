#!/usr/bin/env python3
"""Asks the pricing service (pricing.ts, or server.py) for a quote, in Python
with pika, the way the RabbitMQ tutorial's RPC client does.

    AMQP_URL=amqp://guest:guest@127.0.0.1:5672 /usr/bin/python3 client.py tea 12

Prints the reply (JSON) and exits 0. An error reply (header x-warren-error) is
printed to stderr with its code, and the exit code is 1. No reply within
TIMEOUT seconds: exit code 3. No queue bound to `quote`: exit code 2.
"""
import json
import os
import sys
import time
import uuid

import pika

AMQP_URL = os.environ.get('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672')
EXCHANGE = 'warren'
TIMEOUT = 5  # seconds


def main():
    sku = sys.argv[1] if len(sys.argv) > 1 else 'tea'
    quantity = int(sys.argv[2]) if len(sys.argv) > 2 else 1

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    # Declared as every fastify-warren service declares it (same arguments), so
    # publishing to it works even before any service has run.
    channel.exchange_declare(exchange=EXCHANGE, exchange_type='topic', durable=True)
    # A private reply queue, deleted when we disconnect (the tutorial's way;
    # fastify-warren uses direct reply-to, amq.rabbitmq.reply-to, instead).
    reply_queue = channel.queue_declare(queue='', exclusive=True).method.queue
    correlation_id = str(uuid.uuid4())
    replies = []

    def on_reply(_channel, _method, props, body):
        if props.correlation_id == correlation_id:  # ignore anything else
            replies.append((props, body))

    channel.basic_consume(queue=reply_queue, on_message_callback=on_reply, auto_ack=True)
    # Publisher confirms + mandatory: like fastify-warren, learn at once when
    # no queue is bound to the routing key (the pricing service never ran).
    channel.confirm_delivery()

    try:
        channel.basic_publish(
            exchange=EXCHANGE,
            routing_key='quote',
            body=json.dumps({'sku': sku, 'quantity': quantity}),
            properties=pika.BasicProperties(
                content_type='application/json',  # fastify-warren parses the body by it
                reply_to=reply_queue,
                correlation_id=correlation_id,
                message_id=correlation_id,
                expiration=str(TIMEOUT * 1000),   # not taken in time: dropped, not run late
                app_id='client-py',
            ),
            mandatory=True,
        )
    except pika.exceptions.UnroutableError:
        print('no queue is bound to "quote": is the pricing service running?', file=sys.stderr)
        sys.exit(2)

    deadline = time.monotonic() + TIMEOUT
    while not replies and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.1)  # runs on_reply
    connection.close()
    if not replies:
        print(f'no reply within {TIMEOUT} s', file=sys.stderr)
        sys.exit(3)

    props, body = replies[0]
    reply = json.loads(body) if props.content_type == 'application/json' else body
    error_code = (props.headers or {}).get('x-warren-error')
    if error_code is not None:
        # fastify-warren's error reply: {"error": {"message": ..., "code": ...}}
        print(f'error reply (x-warren-error: {error_code}): {json.dumps(reply)}', file=sys.stderr)
        sys.exit(1)
    print(json.dumps(reply))


if __name__ == '__main__':
    main()
