'use strict'

// neostandard (standard's rules for TypeScript too), as fastify's plugins use it.
module.exports = require('neostandard')({
  ts: true,
  ignores: ['dist/**', 'coverage/**', '.tap/**']
})
