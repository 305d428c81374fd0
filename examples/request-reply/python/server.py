#!/usr/bin/env python3
"""Answers `quote` requests like pricing.ts, in Python with pika.

A fastify-warren requester (the shop) cannot tell the difference: requests
arrive as JSON on the durable queue `quote`, bound to the `warren` topic
exchange, and each reply goes to the request's reply_to with its
correlation_id. An error reply carries the header x-warren-error and the body
{"error": {"message": ..., "code": ...}}, which the requester turns into
FST_AMQP_RPC_REMOTE_ERROR.

    AMQP_URL=amqp://guest:guest@127.0.0.1:5672 /usr/bin/python3 server.py

Stop pricing.ts first if it runs: both would share the queue `quote`, and each
request would go to one of them.
"""
import json
import os
import signal
import time

import pika

AMQP_URL = os.environ.get('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672')
EXCHANGE = 'warren'  # fastify-warren's default exchange: durable, topic
QUEUE = 'quote'      # consume('quote') names the queue after the routing key

PRODUCTS = {
    'tea': {'name': 'Green tea, 100 g', 'unitPrice': 450},
    'mug': {'name': 'Stoneware mug', 'unitPrice': 1200},
    'kettle': {'name': 'Glass kettle', 'unitPrice': 3500},
    'teapot': {'name': 'Hand-thrown teapot', 'unitPrice': 8900, 'madeToOrder': True},
    'samovar': {'name': 'Brass samovar', 'unitPrice': None},
}
WORKSHOP_DELAY = 5  # seconds


class QuoteError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def quote(request):
    sku = request.get('sku') if isinstance(request, dict) else None
    quantity = request.get('quantity') if isinstance(request, dict) else None
    if not isinstance(sku, str) or type(quantity) is not int or quantity < 1:
        raise QuoteError('E_BAD_REQUEST', 'expected {"sku": string, "quantity": integer >= 1}')
    product = PRODUCTS.get(sku)
    if product is None:
        raise QuoteError('E_UNKNOWN_PRODUCT', f'no product "{sku}"')
    if product['unitPrice'] is None:
        raise QuoteError('E_NO_PRICE', f'"{sku}" has no price yet')
    if product.get('madeToOrder'):
        time.sleep(WORKSHOP_DELAY)  # stands for a call to the workshop's slow API
    discount = 10 if quantity >= 10 else 0
    total = round(product['unitPrice'] * quantity * (100 - discount) / 100)
    return {'sku': sku, 'name': product['name'], 'quantity': quantity, 'unitPrice': product['unitPrice'],
            'discount': discount, 'total': total, 'currency': 'EUR'}


def on_request(channel, method, props, body):
    if props.reply_to is None:  # not a request: nobody to answer
        channel.basic_ack(delivery_tag=method.delivery_tag)
        return
    headers = None
    try:
        if (props.content_type or '').split(';')[0] != 'application/json':
            raise QuoteError('E_BAD_REQUEST', f'expected application/json, got {props.content_type}')
        reply = quote(json.loads(body))
    except Exception as err:
        code = getattr(err, 'code', None) or type(err).__name__
        reply = {'error': {'message': str(err), 'code': code}}
        headers = {'x-warren-error': code}  # marks the reply as an error
    channel.basic_publish(
        exchange='',                  # the default exchange routes by queue name...
        routing_key=props.reply_to,   # ...so this reaches the requester's reply queue
        body=json.dumps(reply),
        properties=pika.BasicProperties(
            correlation_id=props.correlation_id,  # how the requester matches the reply
            content_type='application/json',
            headers=headers,
            app_id='pricing-py',
        ),
    )
    channel.basic_ack(delivery_tag=method.delivery_tag)


def main():
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    # The same declarations fastify-warren makes, with the same arguments (or
    # the broker refuses them): a durable topic exchange, a durable queue.
    channel.exchange_declare(exchange=EXCHANGE, exchange_type='topic', durable=True)
    channel.queue_declare(queue=QUEUE, durable=True)
    channel.queue_bind(queue=QUEUE, exchange=EXCHANGE, routing_key='quote')
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue=QUEUE, on_message_callback=on_request)
    print(f'awaiting quote requests on queue "{QUEUE}"', flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it like Ctrl-C
    try:
        channel.start_consuming()
    except KeyboardInterrupt:
        channel.stop_consuming()
    connection.close()


if __name__ == '__main__':
    main()
