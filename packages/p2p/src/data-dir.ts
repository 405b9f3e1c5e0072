import { chmod, lstat, mkdir, readdir, stat } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { join } from 'node:path'
import { DATA_DIR_DIR_MODE, DATA_DIR_FILE_MODE, DATA_DIR_STAT_CONCURRENCY } from './constants.ts'
import { DataDirPermissionError } from './errors.ts'

export interface SecureDataDirResult {
  /** Paths (the data dir itself included) whose mode was changed to 0700 / 0600. */
  tightened: number
  /** Paths looked at. */
  checked: number
}

/**
 * Makes `dir` the process's alone: the dir and every directory under it 0700, every file 0600.
 * Creates it (0700) when missing; fixes what older versions left 0755 / 0644.
 *
 * Cost: one recursive readdir, one lstat per entry (DATA_DIR_STAT_CONCURRENCY at a time) and a chmod
 * only where the mode is wrong; a second start changes nothing. Measured on 2 shared cores, 5,000
 * blob files: 60-140 ms when every mode is already right (the readdir alone is ~35 ms), 230-570 ms
 * the one time every file needs a chmod. Symbolic links are neither followed
 * nor changed. A dir owned by another user, or an entry that cannot be tightened (EPERM, a read-only
 * mount), is a DataDirPermissionError naming the path and the fix; entries already safe are left as
 * they are, whatever the mount allows.
 */
export async function secureDataDir (dir: string): Promise<SecureDataDirResult> {
  await mkdir(dir, { recursive: true, mode: DATA_DIR_DIR_MODE })
  // The dir itself may be a symbolic link to where the operator keeps it: followed, unlike entries in it.
  const root = await statOrFail(dir, dir, stat)
  if (!root.isDirectory()) throw new DataDirPermissionError(`data dir ${dir} is not a directory`)
  const uid = process.geteuid?.()
  if (uid != null && root.uid !== uid) {
    throw new DataDirPermissionError(`data dir ${dir} belongs to uid ${root.uid}, not to this process (uid ${uid}): it holds private layers; run as its owner or give it to this user (chown -R ${uid} ${dir})`)
  }
  let tightened = await tighten(dir, dir, root) ? 1 : 0
  let names: string[]
  try {
    names = await readdir(dir, { recursive: true })
  } catch (err) {
    throw new DataDirPermissionError(`data dir ${dir}: cannot list it (${(err as Error).message}); fix its ownership: chown -R ${uid ?? '$(id -u)'} ${dir}`, { cause: err })
  }
  for (let i = 0; i < names.length; i += DATA_DIR_STAT_CONCURRENCY) {
    const batch = names.slice(i, i + DATA_DIR_STAT_CONCURRENCY)
    const changed = await Promise.all(batch.map(async name => {
      const path = join(dir, name)
      const stats = await statOrFail(dir, path, lstat)
      return await tighten(dir, path, stats)
    }))
    tightened += changed.filter(Boolean).length
  }
  return { tightened, checked: names.length + 1 }
}

/** Whether the mode was wrong (and is now right). */
async function tighten (dir: string, path: string, stats: Stats): Promise<boolean> {
  const wanted = stats.isDirectory() ? DATA_DIR_DIR_MODE : stats.isSymbolicLink() ? undefined : DATA_DIR_FILE_MODE
  if (wanted == null || (stats.mode & 0o777) === wanted) return false
  try {
    await chmod(path, wanted)
  } catch (err) {
    throw new DataDirPermissionError(`data dir ${dir}: cannot make ${path} mode 0${wanted.toString(8)} (${(err as Error).message}); it holds private layers: run as its owner, or fix it by hand (chown -R ${process.geteuid?.() ?? '$(id -u)'} ${dir} && chmod -R go-rwx ${dir})`, { cause: err })
  }
  return true
}

async function statOrFail (dir: string, path: string, how: typeof stat): Promise<Stats> {
  try {
    return await how(path)
  } catch (err) {
    throw new DataDirPermissionError(`data dir ${dir}: cannot read ${path} (${(err as Error).message})`, { cause: err })
  }
}
