/** CPython as the reference the parity tests compare with: values asked of a real python3. */
import { execFileSync } from 'node:child_process'

/**
 * The integer constants of CPython's module `module` whose names start with `prefix`
 * (`pythonConstants('select', 'EPOLL')`: `{ EPOLLIN: 1, ... }`), from one python3 run.
 */
export function pythonConstants(module: string, prefix: string): Record<string, number> {
  const script = [
    `import json, ${module}`,
    `print(json.dumps({k: v for k, v in vars(${module}).items() if k.startswith(${JSON.stringify(prefix)}) and type(v) is int}))`,
  ].join('\n')
  return JSON.parse(execFileSync('python3', ['-c', script], { encoding: 'utf8', timeout: 10_000 }))
}
