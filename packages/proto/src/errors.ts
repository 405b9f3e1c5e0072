export class InvalidDigestError extends Error {
  static override name = 'InvalidDigestError'
  override name = 'InvalidDigestError'
}

export class InvalidPieceError extends Error {
  static override name = 'InvalidPieceError'
  override name = 'InvalidPieceError'
}
