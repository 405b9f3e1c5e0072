import { UpstreamProtocolError } from '../errors.ts'

/** An upstream body read whole, refused past `max` bytes (a registry's answer is not trusted to be small). */
export async function readCapped (body: AsyncIterable<Uint8Array>, max: number, what: string): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of body) {
    total += chunk.byteLength
    if (total > max) throw new UpstreamProtocolError(`upstream ${what} is larger than ${max} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}
