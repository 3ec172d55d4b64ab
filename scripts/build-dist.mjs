// Builds dist/ from src/: one CommonJS bundle (esbuild), an ES module entry that re-exports it
// (one copy of the code, so `instanceof` works whichever way the package is loaded), the
// type declarations (tsc) and the native addon beside the bundle.
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
  external: ['*.node'],
  outfile: 'dist/index.cjs',
  logLevel: 'warning',
})
writeFileSync('dist/index.mjs', "export * from './index.cjs'\n")
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
for (const file of readdirSync('src').filter((f) => f.endsWith('.node'))) {
  copyFileSync(`src/${file}`, `dist/${file}`)
}
