import { lstat, readdir } from 'node:fs/promises'
import { join, sep } from 'node:path'

/**
 * Every path under `dir` (itself as '.') whose mode is not 0700 for a directory or 0600 for a file,
 * as `relative/path 0755`. `skipFilesUnder`: directories whose files another library makes (level).
 */
export async function looseModes (dir: string, opts: { skipFilesUnder?: string[] } = {}): Promise<string[]> {
  const loose: string[] = []
  for (const name of ['.', ...await readdir(dir, { recursive: true })]) {
    const stats = await lstat(join(dir, name))
    if (stats.isSymbolicLink()) continue
    if (stats.isFile() && opts.skipFilesUnder?.some(d => name.startsWith(`${d}${sep}`)) === true) continue
    const mode = stats.mode & 0o777
    if (mode !== (stats.isDirectory() ? 0o700 : 0o600)) loose.push(`${name} 0${mode.toString(8)}`)
  }
  return loose
}

