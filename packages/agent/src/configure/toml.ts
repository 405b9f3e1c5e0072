import { parse, type TomlTable, type TomlValue } from 'smol-toml'
import { ConfigureError } from './errors.ts'

/** Parses an existing TOML file (absent or blank is an empty document). */
export function parseTomlFile (existing: string | undefined, file: string): TomlTable {
  if (existing === undefined || existing.trim() === '') return {}
  try {
    return parse(existing, { integersAsBigInt: 'asNeeded' })
  } catch (err) {
    throw new ConfigureError(`${file} is not valid TOML (${(err as Error).message.split('\n')[0]}); fix or move it away and run again`, { cause: err })
  }
}

export function isTable (value: TomlValue | undefined): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
}

/** An array whose items are all tables (`[[name]]`); an absent value is an empty one. */
export function tableArray (value: TomlValue | undefined, what: string, file: string): TomlTable[] {
  if (value === undefined) return []
  if (Array.isArray(value) && value.every(isTable)) return value as TomlTable[]
  throw new ConfigureError(`${file}: ${what} must be a list of tables ([[${what}]]); fix it by hand and run again`)
}

/** A value at a dotted path of tables, or undefined when a step is missing or not a table. */
export function lookup (doc: TomlTable, path: readonly string[]): TomlValue | undefined {
  let value: TomlValue | undefined = doc
  for (const key of path) {
    if (!isTable(value)) return undefined
    value = value[key]
  }
  return value
}

/** A note for dry runs and help: smol-toml does not keep comments. */
export const TOML_COMMENTS_NOTE = 'comments and formatting of an existing TOML file are not kept (the backup has them)'
