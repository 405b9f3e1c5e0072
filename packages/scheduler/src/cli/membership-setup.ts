import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { JOIN_TOKENS_FILE_NAME } from '../constants.ts'
import { JoinTokens } from '../membership/join-tokens.ts'
import { MemberStore } from '../membership/member-store.ts'
import { Membership } from '../membership/membership.ts'

/**
 * The scheduler's membership, when it has join tokens: `--join-tokens FILE`, or `join-tokens` in the
 * data dir when that file exists. Undefined without: the scheduler then takes agents on loopback
 * only. Members are kept in `members` in the data dir. SchedulerConfigError names a bad token line.
 */
export async function startMembership (config: { dataDir: string, joinTokensFile?: string }): Promise<Membership | undefined> {
  let path = config.joinTokensFile
  if (path == null) {
    const inDataDir = join(config.dataDir, JOIN_TOKENS_FILE_NAME)
    const exists = await access(inDataDir).then(() => true, (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false
      throw err
    })
    if (!exists) return undefined
    path = inDataDir
  }
  const membership = new Membership({ tokens: new JoinTokens(path), store: new MemberStore(join(config.dataDir, 'members')) })
  await membership.start()
  return membership
}
