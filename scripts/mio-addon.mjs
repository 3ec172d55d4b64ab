// The addon built with the mio backend (the cargo feature `mio`), for `npm run test:mio` and the
// mio row of bench/http.ts. It builds in its own cargo target dir, target/mio, so the epoll build
// in target/, src/ and dist/ stays as it is. Load it through napi-rs's generated loader with
// NAPI_RS_NATIVE_LIBRARY_PATH=<the path>. Run directly, it builds and prints the path.
import { execFileSync } from 'node:child_process'
import { copyFileSync } from 'node:fs'
import path from 'node:path'

const root = path.join(import.meta.dirname, '..')
/** cargo's target dir for the mio builds. */
export const targetDir = path.join(root, 'target', 'mio')

/** Builds the release addon with the mio backend (cargo does nothing when it is current); returns its path. */
export function buildMioAddon() {
  execFileSync('cargo', ['build', '--release', '-p', 'fdpoll-node', '--features', 'mio', '--target-dir', targetDir], {
    cwd: root,
    stdio: ['ignore', process.stderr, 'inherit'],
  })
  const addon = path.join(targetDir, 'fdpoll.node')
  copyFileSync(path.join(targetDir, 'release', process.platform === 'darwin' ? 'libfdpoll_node.dylib' : 'libfdpoll_node.so'), addon)
  return addon
}

if (process.argv[1] === import.meta.filename) console.log(buildMioAddon())
