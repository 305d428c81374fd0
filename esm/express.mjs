// fastify-warren/express as an ES module: the CommonJS build's exports, by name.
import express from '../dist/express.js'

export const { warrenMiddleware, warrenHealth, warrenErrorHandler } = express
