/**
 * node:net peer for bench/http.ts: counts "\r\n\r\n" request terminators in each 'data' chunk
 * (the partial match carries over to the next chunk) and answers with that many copies of the
 * 76-byte response in one write. Run: PORT=0 node bench/servers/node-net.js
 */
const net = require('node:net')

const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 13\r\n\r\nHello, world!')
let many = Buffer.concat(Array(64).fill(RESPONSE)) // grown when a chunk holds more requests

const server = net.createServer({ noDelay: true }, (socket) => {
  let match = 0 // bytes of "\r\n\r\n" matched so far
  socket.on('data', (chunk) => {
    let count = 0
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]
      if (c === (match & 1 ? 10 : 13)) {
        if (++match === 4) { count++; match = 0 }
      } else match = c === 13 ? 1 : 0 // a lone '\r' is the only prefix that can restart
    }
    if (count === 0) return
    if (count * RESPONSE.length > many.length) many = Buffer.concat(Array(count).fill(RESPONSE))
    // copy: the socket may still hold the buffer when `many` is replaced later
    socket.write(count === 1 ? RESPONSE : Buffer.from(many.subarray(0, count * RESPONSE.length)))
  })
  socket.on('error', () => socket.destroy())
})
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
  console.log(`Serving on http://127.0.0.1:${server.address().port}/`)
})
