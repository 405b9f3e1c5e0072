export class InvalidDigestError extends Error {
  static name = 'InvalidDigestError'
  override name = 'InvalidDigestError'
}

export class InvalidPieceError extends Error {
  static name = 'InvalidPieceError'
  override name = 'InvalidPieceError'
}
