/**
 * Named errors of the mirror benchmark. Callers match on `err.name`, never on the message.
 */
function named (name: string): new (message: string, options?: ErrorOptions) => Error {
  return class extends Error {
    static override name = name
    constructor (message: string, options?: ErrorOptions) {
      super(message, options)
      this.name = name
    }
  }
}

/** A command-line option is missing, unknown or out of range; the message names it. */
export class BenchUsageError extends named('BenchUsageError') {}
/** A pulled blob had the wrong length, status or digest: the run measured nothing valid. */
export class BlobVerificationError extends named('BlobVerificationError') {}
/** Pushing the benchmark blobs to the origin failed. */
export class BlobPushError extends named('BlobPushError') {}
/** The agent process could not be started, or died while measured. */
export class AgentProcessError extends named('AgentProcessError') {}
