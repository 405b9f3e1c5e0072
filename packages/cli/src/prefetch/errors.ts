/**
 * Named errors of `shoal prefetch`. Callers match on `err.name`; the command's edge (index.ts)
 * turns them into messages and exit codes.
 */

function namedError (name: string): new (message: string, options?: ErrorOptions) => Error {
  return class extends Error {
    static override name = name
    constructor (message: string, options?: ErrorOptions) {
      super(message, options)
      this.name = name
    }
  }
}

/** A flag, argument, environment variable or image list line that cannot be used; the message names it. Exit 2. */
export class PrefetchUsageError extends namedError('PrefetchUsageError') {}
/** The scheduler's admin API answered with an error status (the message carries its `error`), or not at all. */
export class SchedulerRequestError extends namedError('SchedulerRequestError') {}
/** The scheduler knows no job by that id (404). */
export class JobNotFoundError extends namedError('JobNotFoundError') {}
/** The scheduler answered 2xx with a body that is not the JSON the admin API promises. */
export class InvalidSchedulerAnswerError extends namedError('InvalidSchedulerAnswerError') {}
/** A `--from-file` list cannot be read. */
export class ImageListReadError extends namedError('ImageListReadError') {}
/** The scheduler refused the job as invalid (400): an unknown site, a scope with no agent, a bad image. */
export class JobRejectedError extends namedError('JobRejectedError') {}
