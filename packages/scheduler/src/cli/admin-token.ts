import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { IncomingMessage } from 'node:http'
import { DATA_DIR_DIR_MODE, DATA_DIR_FILE_MODE } from '@shoal/p2p'
import { ADMIN_TOKEN_FILE_NAME, ADMIN_TOKEN_MIN_LENGTH } from '../constants.ts'
import { SchedulerConfigError } from '../errors.ts'

export interface AdminToken {
  token: string
  /** Where it was read from, or written to at this start. */
  path: string
  created: boolean
}

/**
 * The admin API's bearer token: from `--admin-token-file`, or `admin-token` in the data dir, made at
 * the first start (32 random bytes, base64url, mode 0600). SchedulerConfigError names the field.
 */
export async function loadOrCreateAdminToken (opts: { file?: string, dataDir: string, field?: string }): Promise<AdminToken> {
  if (opts.file != null) return { token: await readToken(opts.field ?? '--admin-token-file', opts.file), path: opts.file, created: false }
  const path = join(opts.dataDir, ADMIN_TOKEN_FILE_NAME)
  try {
    return { token: await readToken(path, path), path, created: false }
  } catch (err) {
    if ((err as { cause?: NodeJS.ErrnoException }).cause?.code !== 'ENOENT') throw err
  }
  await mkdir(opts.dataDir, { recursive: true, mode: DATA_DIR_DIR_MODE })
  const token = randomBytes(32).toString('base64url')
  // 'wx': two schedulers starting on one data dir at once do not overwrite each other's token.
  await writeFile(path, `${token}\n`, { mode: DATA_DIR_FILE_MODE, flag: 'wx' })
  return { token, path, created: true }
}

async function readToken (field: string, path: string): Promise<string> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new SchedulerConfigError(`${field}: cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  const token = text.trim()
  if (token.length < ADMIN_TOKEN_MIN_LENGTH || /\s/.test(token)) {
    throw new SchedulerConfigError(`${field}: ${path} must hold one token of at least ${ADMIN_TOKEN_MIN_LENGTH} characters without spaces (for example: openssl rand -base64 32)`)
  }
  return token
}

/** Whether the request carries `Authorization: Bearer <token>`; compared in constant time. */
export function hasAdminToken (req: IncomingMessage, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')
  if (match == null) return false
  const given = createHash('sha256').update(match[1] ?? '').digest()
  return timingSafeEqual(given, createHash('sha256').update(token).digest())
}
