/**
 * node:net peer of examples/echo-coroutines.ts for bench/echo.ts and bench/coroutines-idle.ts:
 * sends back what each connection sends, upper-cased as Python's bytes.upper() does (ASCII only).
 * Run: PORT=0 node bench/servers/node-net-echo.js
 */
const net = require('node:net')

const server = net.createServer((socket) => {
  socket.on('data', (data) => {
    for (let i = 0; i < data.length; i++) if (data[i] >= 0x61 && data[i] <= 0x7a) data[i] -= 0x20
    socket.write(data)
  })
  socket.on('error', () => socket.destroy())
})
server.listen(Number(process.env.PORT ?? 8088), '127.0.0.1', () => {
  console.log(`Serving on tcp://127.0.0.1:${server.address().port}`)
})
