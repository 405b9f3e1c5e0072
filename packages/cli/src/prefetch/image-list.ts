import { readFile } from 'node:fs/promises'
import { ImageListReadError, PrefetchUsageError } from './errors.ts'
import { formatImageReference } from '@shoal/agent/prefetch'
import { parseImageReference, parseTagGlob } from './values.ts'
import type { ImageRequest } from './shared-types.ts'

/**
 * Images as the operator names them, turned into requests: a reference with a tag or a digest is one
 * image; a repository with a tag filter is every matching tag; a repository with neither is `:latest`,
 * as `docker pull` reads it.
 */
export function imageRequest (field: string, text: string, tags?: string): ImageRequest {
  const ref = parseImageReference(field, text)
  const pinned = ref.tag != null || ref.digest != null
  if (tags == null) return { reference: formatImageReference(pinned ? ref : { ...ref, tag: 'latest' }) }
  if (pinned) throw new PrefetchUsageError(`${field}: "${text}" names a tag or digest and has a tag filter; give the repository alone with --tags`)
  return { reference: formatImageReference(ref), tags }
}

/**
 * An image list (`--from-file`): one image a line, `IMAGE` or `REPOSITORY --tags GLOB` (or `--tags=GLOB`);
 * `#` starts a comment; blank lines are skipped; the glob may be quoted as on a command line. Errors name the file and the line.
 */
export function parseImageList (text: string, opts: { file: string }): ImageRequest[] {
  const requests: ImageRequest[] = []
  const lines = text.split(/\r?\n/)
  for (const [i, raw] of lines.entries()) {
    const field = `${opts.file}:${i + 1}`
    const line = raw.replace(/(^|\s)#.*$/, '').trim()
    if (line === '') continue
    const words = line.split(/\s+/)
    const [image, ...rest] = words
    let tags: string | undefined
    if (rest.length === 1 && rest[0]?.startsWith('--tags=') === true) tags = rest[0].slice('--tags='.length)
    else if (rest.length === 2 && rest[0] === '--tags') tags = rest[1]
    else if (rest.length > 0) throw new PrefetchUsageError(`${field}: "${line}": a line is IMAGE, or REPOSITORY --tags GLOB`)
    if (image == null || image.startsWith('-')) throw new PrefetchUsageError(`${field}: "${line}": a line starts with an image`)
    requests.push(imageRequest(field, image, tags == null ? undefined : parseTagGlob(`${field}: --tags`, unquote(tags))))
  }
  return requests
}

/** `'v1.*'` or `"v1.*"` as a shell would pass it: the list is often written by copying a command line. */
function unquote (text: string): string {
  const match = /^(['"])(.*)\1$/.exec(text)
  return match?.[2] ?? text
}

/** Reads and parses `--from-file FILE` (`-` is standard input). */
export async function readImageList (file: string, opts: { stdin?: NodeJS.ReadableStream } = {}): Promise<ImageRequest[]> {
  let text: string
  try {
    text = file === '-' ? await readAll(opts.stdin ?? process.stdin) : await readFile(file, 'utf8')
  } catch (err) {
    throw new ImageListReadError(`--from-file: cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  return parseImageList(text, { file: file === '-' ? '<stdin>' : file })
}

async function readAll (stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks).toString('utf8')
}
