import { mkdir } from 'node:fs/promises'
import { Level } from 'level'
import { DATA_DIR_DIR_MODE } from '@shoal/p2p'
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
    // level makes its files with the process's umask; the dir made here keeps other users out.
    await mkdir(this.#path, { recursive: true, mode: DATA_DIR_DIR_MODE })
    await this.#db.open()
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
