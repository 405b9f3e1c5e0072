import type { AgentInit } from '@shoal/agent'

export interface LogLine {
  level: string
  msg: string
  [field: string]: unknown
}

/** A logger that keeps every line (as the JSON line the agent would write, parsed back), for assertions. */
export function captureLogs (): { logger: NonNullable<AgentInit['logger']>, lines: LogLine[], text: () => string } {
  const raw: string[] = []
  const write = (level: string) => (msg: string, fields?: Record<string, unknown>): void => {
    raw.push(JSON.stringify({ level, msg, ...fields }))
  }
  return {
    logger: { info: write('info'), warn: write('warn'), error: write('error') },
    get lines () { return raw.map(line => JSON.parse(line) as LogLine) },
    text: () => raw.join('\n')
  }
}
