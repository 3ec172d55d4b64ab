/**
 * node:http peer for bench/http.ts. The headers are set so the wire bytes are the other servers'
 * 76 bytes exactly: an explicit `Connection: keep-alive` header stops node:http adding its own
 * Connection and `Keep-Alive: timeout=5` headers, and `sendDate = false` drops `Date` (both
 * are node:http defaults). Run: PORT=0 node bench/servers/node-http.js
 */
const http = require('node:http')

const HEADERS = ['Connection', 'keep-alive', 'Content-Length', '13'] // flat array: order kept
const server = http.createServer((req, res) => {
  res.sendDate = false
  res.writeHead(200, HEADERS)
  res.end('Hello, world!')
})
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
  console.log(`Serving on http://127.0.0.1:${server.address().port}/`)
})
