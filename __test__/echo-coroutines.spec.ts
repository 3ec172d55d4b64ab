/**
 * examples/echo-coroutines.ts, what only the coroutine server has to show (the tests it shares
 * with echo-selectors.ts are in echo-servers.spec.ts): a client that never reads blocks only its
 * own task, waiting in sockSendall, while others are served.
 */
import test from 'ava'

import { countFds } from './hostile-clients.js'
import { connect, echo, exchange, quietCpu, start, until } from './servers.js'

test('a client that sends and never reads leaves only its own task waiting; when it goes, so does its fd', async (t) => {
  const server = await start(t, 'echo-coroutines.ts')
  const { port } = server
  const pid = server.process.pid!
  const { sockets } = countFds(pid) // as it starts listening, before any client
  t.is((await echo(port, 'warm up')).toString(), 'WARM UP')
  await until(3000, 'the server closing the warm-up connection', () => countFds(pid).sockets === sockets)
  const { total } = countFds(pid)
  const hog = await connect(port)
  t.teardown(() => hog.destroy())
  hog.pause() // reads nothing: the server's replies fill the socket buffers, and its sockSendall waits
  const chunk = Buffer.alloc(1 << 20, 'a')
  for (let i = 0; i < 32; i++) hog.write(chunk)
  await quietCpu(pid) // the buffers are full: the hog's task waits in sockSendall
  t.true(hog.writableLength > 0, 'the server has stopped taking the hog\'s bytes')
  const other = await connect(port)
  t.teardown(() => other.destroy())
  t.is((await exchange(other, 'served meanwhile')).toString(), 'SERVED MEANWHILE')
  other.destroy()
  hog.resetAndDestroy()
  // Its sockets exactly, and no more fds in all (as hostile.spec counts): the hog's task ends
  // once its sockSendall fails, which can take a few seconds on a loaded machine.
  await until(8000, `the server closing both connections (${sockets} sockets before)`, () => {
    const now = countFds(pid)
    return now.sockets === sockets && now.total <= total
  })
  t.is(server.process.exitCode, null)
  t.is(server.stderr(), '')
})
