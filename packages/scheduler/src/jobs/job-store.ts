import { Level } from 'level'
import { openLevelStore } from '../level-store.ts'
import type { JobRecord } from './job.ts'

/**
 * Prefetch jobs on disk (`<data-dir>/jobs`, level, JSON values), so that a job survives a
 * restart of its scheduler. A write is awaited before the admin API answers a create or a cancel.
 */
export class JobStore {
  readonly #path: string
  readonly #db: Level<string, JobRecord>

  constructor (path: string) {
    this.#path = path
    this.#db = new Level<string, JobRecord>(path, { valueEncoding: 'json' })
  }

  async open (): Promise<void> {
    await openLevelStore(this.#db, this.#path)
  }

  async close (): Promise<void> {
    await this.#db.close()
  }

  async put (job: JobRecord): Promise<void> {
    await this.#db.put(job.id, job)
  }

  async all (): Promise<JobRecord[]> {
    return await this.#db.values().all()
  }
}
