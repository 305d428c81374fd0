#!/usr/bin/env python3
"""Prints every message published on the `warren` exchange with a routing key
matching BINDING (a topic pattern, default `#`), in Python with pika: one JSON
line per message, with its AMQP properties and its body decoded by content type.

    AMQP_URL=amqp://guest:guest@127.0.0.1:5672 /usr/bin/python3 subscriber.py 'price.#'

A fastify-warren service's app.amqp.publish('price.changed', { sku: 'tea' })
then prints something like:

    {"routing_key": "price.changed", "content_type": "application/json",
     "delivery_mode": 2, "message_id": "5b0c...", "app_id": "shop",
     "timestamp": 1767225600, "headers": {}, "body": {"sku": "tea"}}
"""
import json
import os
import signal
import sys

import pika

AMQP_URL = os.environ.get('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672')
EXCHANGE = 'warren'  # fastify-warren's default exchange: durable, topic


def decode(body, content_type):
    """Decodes a body the way fastify-warren does: JSON, text, or bytes."""
    media_type = (content_type or '').split(';')[0].strip().lower()
    if media_type == 'application/json' or (media_type.startswith('application/') and media_type.endswith('+json')):
        return json.loads(body) if body else None
    if media_type.startswith('text/'):
        return body.decode('utf-8')
    return body.hex()  # raw bytes: shown as hex here


def on_message(channel, method, props, body):
    print(json.dumps({
        'routing_key': method.routing_key,
        'content_type': props.content_type,
        'delivery_mode': props.delivery_mode,  # 2: persistent
        'message_id': props.message_id,
        'correlation_id': props.correlation_id,
        'app_id': props.app_id,
        'timestamp': props.timestamp,
        'headers': props.headers or {},
        'body': decode(body, props.content_type),
    }), flush=True)
    channel.basic_ack(delivery_tag=method.delivery_tag)


def main():
    binding = sys.argv[1] if len(sys.argv) > 1 else '#'
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.exchange_declare(exchange=EXCHANGE, exchange_type='topic', durable=True)
    # A queue of our own that lives as long as this process: a listener, not a worker.
    queue = channel.queue_declare(queue='', exclusive=True).method.queue
    channel.queue_bind(queue=queue, exchange=EXCHANGE, routing_key=binding)
    channel.basic_consume(queue=queue, on_message_callback=on_message)
    print(f'listening on "{EXCHANGE}" for "{binding}"', file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it like Ctrl-C
    try:
        channel.start_consuming()
    except KeyboardInterrupt:
        channel.stop_consuming()
    connection.close()


if __name__ == '__main__':
    main()
