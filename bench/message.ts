/** The message every scenario sends: small JSON (102 bytes encoded), like an event or a command. */
export const MESSAGE = { id: 42, type: 'order.created', sku: 'AB-1234', qty: 3, price: 19.99, at: '2024-01-01T00:00:00.000Z' }
