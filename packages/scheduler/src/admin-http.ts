import type { IncomingMessage, ServerResponse } from 'node:http'
import { BodyTooLargeError } from './errors.ts'

/** A JSON answer on the admin listener (pretty-printed, one line feed at the end); nothing once headers went out. */
export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2) + '\n')
}

/** A request body as text, refused past `maxBytes` (BodyTooLargeError naming `what`). */
export async function readBody (req: IncomingMessage, maxBytes: number, what: string): Promise<string> {
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.byteLength
    if (length > maxBytes) throw new BodyTooLargeError(`${what} is at most ${maxBytes} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
