import { Level } from 'level'
import { openLevelStore } from '../level-store.ts'

/** One peer the scheduler admitted: who, when, with which token's label; removed ones stay, marked. */
export interface MemberRecord {
  peer: string
  hostName: string
  token: string
  admittedAt: string
  removedAt?: string
}

/**
 * Members on disk (`<data-dir>/members`, level, JSON values): admitted peers survive a restart of
 * the scheduler, and so does a removal (a removed peer id cannot join again with a valid token).
 * A write is awaited before the admission or the admin API's answer.
 */
export class MemberStore {
  readonly #path: string
  readonly #db: Level<string, MemberRecord>

  constructor (path: string) {
    this.#path = path
    this.#db = new Level<string, MemberRecord>(path, { valueEncoding: 'json' })
  }

  async open (): Promise<void> {
    await openLevelStore(this.#db, this.#path)
  }

  async close (): Promise<void> {
    await this.#db.close()
  }

  async put (record: MemberRecord): Promise<void> {
    await this.#db.put(record.peer, record)
  }

  async all (): Promise<MemberRecord[]> {
    return await this.#db.values().all()
  }
}
