/** The built package (dist/) loads by name with both `require` and `import`, as one module. */
import test from 'ava'
import { execFileSync } from 'node:child_process'

const node = (args: string[]) => execFileSync(process.execPath, args, { encoding: 'utf8' }).trim()

test('require("fdpoll") gives a working Epoll', (t) => {
  const out = node(['-e', 'const { Epoll, EPOLLET } = require("fdpoll"); const ep = new Epoll(); console.log(ep.fileno() > 2, EPOLLET); ep.close()'])
  t.is(out, 'true 2147483648')
})

test('import from "fdpoll" gives the same classes as require', (t) => {
  const out = node(['--input-type=module', '-e', [
    'import { Epoll, OSError } from "fdpoll"',
    'import { createRequire } from "node:module"',
    'const cjs = createRequire(import.meta.url)("fdpoll")',
    'const ep = new Epoll()',
    'try { ep.register(ep.fileno()) } catch (e) { console.log(e instanceof cjs.OSError, OSError === cjs.OSError, e.code) }',
  ].join('\n')])
  t.is(out, 'true true EINVAL')
})
