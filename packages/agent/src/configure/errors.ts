/**
 * Named errors of `shoal configure`. Callers match on `err.name`; messages say what to do.
 */

/** An existing runtime config cannot be merged, or a file cannot be read or written. Exit code 1. */
export class ConfigureError extends Error {
  static override name = 'ConfigureError'

  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ConfigureError'
  }
}

/** The command line is wrong (unknown flag, missing runtime, bad `--mirror`). Exit code 2. */
export class UsageError extends Error {
  static override name = 'UsageError'

  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'UsageError'
  }
}
