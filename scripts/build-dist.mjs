// Builds dist/ from src/: one CommonJS bundle (esbuild), an ES module entry that re-exports it
// (one copy of the code, so `instanceof` works whichever way the package is loaded), the
// type declarations (tsc) and, for use from this clone, the native addon beside the bundle
// (package.json's `files` leaves it out of the published package, which loads the binary from its
// `fdpoll-<platform>` optional dependency).
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'

rmSync('dist', { recursive: true, force: true })
mkdirSync('dist')
await build({
  entryPoints: ['src/index.ts'],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // The platform packages stay run-time requires of the loader, even where one is installed here.
  external: ['*.node', 'fdpoll-*'],
  outfile: 'dist/index.cjs',
  logLevel: 'warning',
  // esbuild exports through getters that share one `from[key]` closure, which makes every use of
  // an imported name from a CommonJS caller a megamorphic property load (a fifth of the user CPU
  // of examples/hello-world-fast.ts). Every export is a constant, so plain values say the same.
  footer: { js: "module.exports = Object.freeze(Object.defineProperty({ ...module.exports }, '__esModule', { value: true }))" },
})
// The WebAssembly backend's socket host runs in a worker thread, which loads a script by path:
// its own bundle beside index.cjs (src/wasm/host.ts looks for it there).
await build({
  entryPoints: ['src/wasm/host-worker.ts'],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: 'dist/host-worker.cjs',
  logLevel: 'warning',
})
writeFileSync('dist/index.mjs', "export * from './index.cjs'\n")
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
// native.d.ts names the generated loader's declarations.
copyFileSync('src/binding.d.ts', 'dist/binding.d.ts')
for (const file of readdirSync('src').filter((f) => f.endsWith('.node'))) {
  copyFileSync(`src/${file}`, `dist/${file}`)
}
