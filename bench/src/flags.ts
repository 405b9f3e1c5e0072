/**
 * The flag parsing every `bench <name>` shares: strict flags (no positionals), integers with a
 * floor, lists of known names, directories. Errors are BenchUsageError and name the flag.
 */
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import { BenchUsageError } from './mirror/errors.ts'

export type FlagValue = string | boolean | undefined

/** The values of `options` in `argv`; an unknown flag, a positional or a missing value is a BenchUsageError. */
export function parseFlags (argv: string[], options: NonNullable<ParseArgsConfig['options']>): Record<string, FlagValue> {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: false, options }).values as Record<string, FlagValue>
  } catch (err) {
    throw new BenchUsageError((err as Error).message, { cause: err })
  }
}

/** A whole number >= `min`, or `fallback` when the flag is absent. */
export function integerFlag (raw: FlagValue, flag: string, fallback: number, min = 1): number {
  if (raw == null || typeof raw === 'boolean') return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    throw new BenchUsageError(`${flag} must be an integer >= ${min}, not ${JSON.stringify(raw)}`)
  }
  return Number(raw)
}

/** A comma-separated list of names out of `known` (each once, in the order given); `what` names one in errors. */
export function namesFlag<T extends string> (raw: string, flag: string, known: readonly T[], what: string, also: readonly string[] = []): T[] {
  const out: T[] = []
  for (const part of raw.split(',').map(s => s.trim()).filter(s => s !== '')) {
    const name = known.find(k => k === part)
    if (name == null) throw new BenchUsageError(`${flag}: unknown ${what} ${JSON.stringify(part)} (known: ${[...known, ...also].join(', ')})`)
    if (!out.includes(name)) out.push(name)
  }
  if (out.length === 0) throw new BenchUsageError(`${flag} names no ${what}`)
  return out
}

/** A directory, made absolute; undefined when the flag is absent. */
export function dirFlag (raw: FlagValue): string | undefined {
  return typeof raw === 'string' ? resolve(raw) : undefined
}
