import { readFile } from 'node:fs/promises'

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux everywhere). */
const TICKS_PER_S = 100

/**
 * CPU seconds (user + system) the process has used so far, from /proc/<pid>/stat; undefined when
 * it cannot be read (not Linux, or the process is gone). On a shared machine this is the steadier
 * figure: a side's CPU per byte moved barely changes when other work slows its wall clock.
 */
export async function cpuSecondsOf (pid: number | undefined): Promise<number | undefined> {
  if (pid == null) return undefined
  let stat: string
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / TICKS_PER_S : undefined
}

/** A CPU meter for a process: `stop()` resolves to the CPU seconds it used since the meter started. */
export async function cpuMeter (pid: number | undefined): Promise<{ stop: () => Promise<number | undefined> }> {
  const start = await cpuSecondsOf(pid)
  return {
    stop: async () => {
      const end = await cpuSecondsOf(pid)
      return start == null || end == null ? undefined : end - start
    }
  }
}
