/**
 * A command's own Node flags (V8's heap settings cannot change once Node runs): when the command
 * line lacks them, Node starts again with them, in the same process (process.execve keeps the
 * process id, so tini, systemd and anything waiting on the PID see one process). The wrappers
 * (package.json's `shoal`, deploy/systemd/shoal, the image's /usr/local/bin/shoal) pass no flag of
 * their own, so each command gets its own: the agent's small young generation would slow the
 * scheduler. A flag the command line already gives, with any value (`--max-semi-space-size=16`),
 * is the operator's: it stands, and nothing starts again for it.
 */
export function withNodeFlags (flags: readonly string[]): void {
  const given = new Set(process.execArgv.map(flagName))
  const missing = flags.filter(flag => !given.has(flagName(flag)))
  if (missing.length === 0 || typeof process.execve !== 'function') return
  process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)], process.env)
}

function flagName (flag: string): string {
  const equals = flag.indexOf('=')
  return equals < 0 ? flag : flag.slice(0, equals)
}
