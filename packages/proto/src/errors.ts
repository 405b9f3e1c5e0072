/**
 * A named error class: `class DigestMismatchError extends namedError('DigestMismatchError') {}`.
 * Callers match on `err.name`, which survives structured cloning and module duplication.
 */
export function namedError (name: string): new (message: string, options?: ErrorOptions) => Error {
  return class extends Error {
    static override name = name
    constructor (message: string, options?: ErrorOptions) {
      super(message, options)
      this.name = name
    }
  }
}

export class InvalidDigestError extends namedError('InvalidDigestError') {}
export class InvalidPieceError extends namedError('InvalidPieceError') {}
/** A bitfield whose length or spare bits do not fit its piece count. */
export class InvalidBitfieldError extends namedError('InvalidBitfieldError') {}
/** A piece table that does not fit the blob it claims to describe. */
export class InvalidPieceTableError extends namedError('InvalidPieceTableError') {}
/** Bytes from a peer that do not decode to a well-formed protocol message. */
export class InvalidMessageError extends namedError('InvalidMessageError') {}
/** An image reference that is not `[registry/]repository[:tag][@digest]` in the distribution grammar. */
export class InvalidReferenceError extends namedError('InvalidReferenceError') {}
