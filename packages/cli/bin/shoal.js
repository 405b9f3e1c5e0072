#!/usr/bin/env node
// The shoal command. Plain JavaScript, so that it runs before any TypeScript does: it turns on
// Node's compile cache, and Node then takes each module of ours, stripped of its types and
// compiled, from the cache. Without a cache hit Node strips the types with amaro (swc in
// WebAssembly), which stays loaded for the life of the process: ~20 MiB of resident memory in
// every agent (docs/dev/swarm-cpu.md). The cache lives beside the installed code
// (node_modules/.cache/shoal), written only by whoever may write the code; NODE_COMPILE_CACHE
// names another place (the systemd unit's cache directory) and NODE_DISABLE_COMPILE_CACHE=1 turns
// it off. Where the directory cannot be written, Node runs as before, without the cache.
import * as nodeModule from 'node:module'
import { fileURLToPath } from 'node:url'

if (Number(process.versions.node.split('.')[0]) < 24) {
  console.error(`shoal: needs Node 24 or newer, not ${process.version}: \`npx pnpm@12.4.2 shoal\` runs the Node the checkout installs`)
  process.exit(1)
}
nodeModule.enableCompileCache(process.env.NODE_COMPILE_CACHE ?? fileURLToPath(new URL('../../../node_modules/.cache/shoal', import.meta.url)))
await import('../src/main.ts')
