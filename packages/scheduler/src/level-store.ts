import { mkdir } from 'node:fs/promises'
import type { Level } from 'level'
import { DATA_DIR_DIR_MODE } from '@shoal/p2p'
import { DataDirInUseError } from './errors.ts'

/**
 * Opens one of the scheduler's stores under its data dir. The dir is made here, 0700 (level makes
 * its files with the process's umask). A store another process holds open is named as such: a
 * second scheduler started on the same data dir gets that, not level's "Database failed to open".
 */
export async function openLevelStore<V> (db: Level<string, V>, path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: DATA_DIR_DIR_MODE })
  await db.open().catch((err: Error & { cause?: { code?: string } }) => {
    if (err.cause?.code !== 'LEVEL_LOCKED') throw err
    throw new DataDirInUseError(`${path} is in use by another process (its store is locked): stop the other scheduler, or give this one a --data-dir of its own`, { cause: err })
  })
}
