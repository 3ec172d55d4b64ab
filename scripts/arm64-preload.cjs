// Loaded into every Node process of `npm run test:arm64` (through NODE_OPTIONS). It stops any
// process that is not the arm64 Node, so the test cannot pass by silently running x64 Node, and
// points `process.execPath` at the qemu wrapper (FDPOLL_ARM64_NODE): this machine cannot exec an
// arm64 program by itself, so children that start `process.execPath` (ava's workers, the
// examples' servers) go through qemu too.
if (process.arch !== 'arm64') {
  throw new Error(`test:arm64: this Node is ${process.arch}, not arm64 (${process.execPath})`)
}
if (!process.env.FDPOLL_ARM64_NODE) throw new Error('test:arm64: FDPOLL_ARM64_NODE (the qemu wrapper) is not set')
process.execPath = process.env.FDPOLL_ARM64_NODE
