/**
 * The I/O of `shoal configure`: read an existing file, back it up, replace it atomically.
 * Every path is a system path (`/etc/...`) placed under `root`.
 */
import { randomBytes } from 'node:crypto'
import { lstat, mkdir, open, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, isAbsolute } from 'node:path'
import { BACKUP_SUFFIX } from './constants.ts'
import { ConfigureError } from './errors.ts'

export interface WriteResult {
  /** Where the previous content was saved; undefined when there was no file. */
  backup?: string
}

/** `/etc/x` under `root` (`/` leaves it as is). */
export function underRoot (root: string, systemPath: string): string {
  return join(root, systemPath)
}

function describe (err: unknown, action: string, path: string): ConfigureError {
  const code = (err as NodeJS.ErrnoException).code
  const remedy = code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
    ? 'run as root (sudo), or use --root DIR to write into a staging directory'
    : 'check the path and run again'
  return new ConfigureError(`cannot ${action} ${path} (${code ?? (err as Error).message}): ${remedy}`, { cause: err })
}

/** The file's content, or undefined when it does not exist. */
export async function readOptional (path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw describe(err, 'read', path)
  }
}

/** `20250102T030405Z`: sorts by time, has no characters that need quoting in a shell. */
export function backupTimestamp (now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
}

/** A symlink is followed so the link stays; its target must stay under `root`. */
async function resolveTarget (path: string, root: string): Promise<string> {
  // A path that cannot be lstat'ed (it does not exist yet) is written as it is.
  const info = await lstat(path).catch(() => undefined)
  if (info?.isSymbolicLink() !== true) return path
  let target: string
  let realRoot: string
  try {
    target = await realpath(path)
    realRoot = await realpath(root)
  } catch (err) {
    throw describe(err, 'follow the symlink', path)
  }
  const rel = relative(realRoot, target)
  if (rel.startsWith('..') || isAbsolute(rel)) {
    throw new ConfigureError(`${path} is a symlink to ${target}, outside --root ${root}: replace the link with a file and run again`)
  }
  return target
}

/** Saves `content` (the previous file) next to `path`; a name already taken gets a counter. */
async function writeBackup (path: string, content: string, mode: number, now: Date): Promise<string> {
  const base = `${path}${BACKUP_SUFFIX}${backupTimestamp(now)}`
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? base : `${base}-${n}`
    try {
      await writeFile(candidate, content, { flag: 'wx', mode })
      return candidate
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || n >= 100) throw describe(err, 'back up to', candidate)
    }
  }
}

/** Writes a temp file in the same directory, fsyncs it and renames it over `path`. */
async function replaceAtomically (path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.shoal-tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    const handle = await open(temp, 'wx', mode)
    try {
      await handle.writeFile(content, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, path)
  } catch (err) {
    await rm(temp, { force: true })
    throw describe(err, 'write', path)
  }
}

export interface WriteConfigOptions {
  /** The content that was read (and merged); undefined when the file did not exist. */
  previous: string | undefined
  /** The `--root` the path lies under, so that a symlink cannot lead outside it. */
  root: string
  now: Date
}

/**
 * Replaces `path` with `content`: mkdir -p, a backup `<file>.shoal-backup-<timestamp>` of the
 * previous content when there was one, then an atomic rename. The caller skips unchanged files.
 */
export async function writeConfig (path: string, content: string, opts: WriteConfigOptions): Promise<WriteResult> {
  try {
    await mkdir(dirname(path), { recursive: true })
  } catch (err) {
    throw describe(err, 'create the directory of', path)
  }
  const target = await resolveTarget(path, opts.root)
  // A new file gets 0644, as the runtimes' own config files have; an existing one keeps its mode.
  const mode = (await stat(target).catch(() => undefined))?.mode ?? 0o644
  const backup = opts.previous === undefined ? undefined : await writeBackup(target, opts.previous, mode & 0o7777, opts.now)
  await replaceAtomically(target, content, mode & 0o7777)
  return backup === undefined ? {} : { backup }
}
