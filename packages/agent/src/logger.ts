export interface Logger {
  info: (msg: string, fields?: Record<string, unknown>) => void
  warn: (msg: string, fields?: Record<string, unknown>) => void
  error: (msg: string, fields?: Record<string, unknown>) => void
}

/**
 * Structured logs: one JSON object per line on stderr, with the component namespace mirroring the
 * folder (`shoal:agent:registry-mirror`). `SHOAL_LOG=silent` turns them off (tests).
 */
export function createLogger (component: string, sink: (line: string) => void = line => process.stderr.write(`${line}\n`)): Logger {
  const silent = process.env.SHOAL_LOG === 'silent'
  const write = (level: string) => (msg: string, fields?: Record<string, unknown>): void => {
    if (silent) return
    sink(JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...fields }))
  }
  return { info: write('info'), warn: write('warn'), error: write('error') }
}
