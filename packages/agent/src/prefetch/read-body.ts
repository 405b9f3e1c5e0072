import type { Dispatcher } from 'undici'
import { MirrorAnswerError } from './errors.ts'

/**
 * Reads a whole body of at most `maxBytes` (a larger Content-Length is refused before reading);
 * a longer body is dropped and refused as `invalid`.
 */
export async function readCapped (body: Dispatcher.ResponseData['body'], opts: { maxBytes: number, contentLength?: string, what: string }): Promise<Buffer> {
  const declared = opts.contentLength != null ? Number(opts.contentLength) : undefined
  if (declared != null && declared > opts.maxBytes) {
    body.destroy()
    throw new MirrorAnswerError('invalid', `${opts.what}: the mirror announced ${declared} bytes, more than the ${opts.maxBytes} bytes prefetch accepts`)
  }
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of body) {
    total += (chunk as Buffer).byteLength
    if (total > opts.maxBytes) {
      body.destroy()
      throw new MirrorAnswerError('invalid', `${opts.what}: more than the ${opts.maxBytes} bytes prefetch accepts`)
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}
