import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { PieceStore } from '../../src/piece-store/store.ts'

/** A started PieceStore on a temp dir of its own, stopped and removed at the test's end. */
export async function openStore (t: ExecutionContext): Promise<PieceStore> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-store-'))
  const store = new PieceStore({ dataDir: dir })
  await store.start()
  t.teardown(async () => {
    await store.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  return store
}
