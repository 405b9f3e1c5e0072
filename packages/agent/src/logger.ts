export interface Logger {
  /**
   * Per-piece detail (timings, assignments, parents): off unless SHOAL_LOG=debug. Fields that cost
   * something to make may be given as a function, called only when the line is written.
   */
  debug: (msg: string, fields?: Record<string, unknown> | (() => Record<string, unknown>)) => void
  info: (msg: string, fields?: Record<string, unknown>) => void
  warn: (msg: string, fields?: Record<string, unknown>) => void
  error: (msg: string, fields?: Record<string, unknown>) => void
  /** A logger for a part of this component: `shoal:agent` -> `shoal:agent:layer-fetcher`. */
  child: (name: string) => Logger
}

/** `silent` writes nothing; each other level writes itself and the levels above it. */
export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug'

const RANK: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 }

export interface LoggerInit {
  level?: LogLevel
  sink?: (line: string) => void
}

/**
 * Structured logs: one JSON object per line (stderr unless a sink is given), with the component
 * namespace mirroring the folder (`shoal:agent:registry-mirror`). Loggers are made by whoever
 * composes the components (the `shoal` command) and handed down, never at import, so a test or an
 * embedder decides what is written.
 */
export function createLogger (component: string, init: LoggerInit = {}): Logger {
  const rank = RANK[init.level ?? 'info']
  const sink = init.sink ?? ((line: string) => { process.stderr.write(`${line}\n`) })
  const write = (level: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: Record<string, unknown> | (() => Record<string, unknown>)): void => {
    if (RANK[level] > rank) return
    sink(JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...(typeof fields === 'function' ? fields() : fields) }))
  }
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), child: name => createLogger(`${component}:${name}`, init) }
}

/** Writes nothing: the default of every component that is given no logger (tests, embedders). */
export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, child: () => silentLogger }

/** `SHOAL_LOG`: silent, error, warn, info (the default) or debug. Anything else is refused with the field named. */
export function parseLogLevel (value: string | undefined): LogLevel {
  if (value == null || value === '') return 'info'
  if (value in RANK) return value as LogLevel
  throw new RangeError(`SHOAL_LOG: "${value.slice(0, 40)}" is not one of silent, error, warn, info, debug`)
}
