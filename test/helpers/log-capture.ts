import { createLogger } from '@shoal/agent'
import type { Logger, LogLevel } from '@shoal/agent'

export interface LogLine {
  level: string
  msg: string
  component: string
  [field: string]: unknown
}

/** A logger that keeps every line (the JSON line the agent would write, parsed back), for assertions. */
export function captureLogs (level: LogLevel = 'info'): { logger: Logger, lines: LogLine[], text: () => string } {
  const raw: string[] = []
  return {
    logger: createLogger('shoal:agent', { level, sink: line => { raw.push(line) } }),
    get lines () { return raw.map(line => JSON.parse(line) as LogLine) },
    text: () => raw.join('\n')
  }
}
