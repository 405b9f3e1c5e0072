import { isTagGlob, tagGlobMatcher } from '@shoal/proto'
import { InvalidTagFilterError } from './errors.ts'

/** A parsed tag glob: `*` is any run of characters, `?` exactly one; the rest matches itself. */
export interface TagFilter {
  glob: string
  matches: (tag: string) => boolean
}

export function parseTagFilter (glob: string): TagFilter {
  if (!isTagGlob(glob)) {
    throw new InvalidTagFilterError(`tag filter "${glob.slice(0, 70)}" may hold only a tag's characters (A-Z a-z 0-9 _ . -) and the wildcards * and ?, at most 128`)
  }
  return { glob, matches: tagGlobMatcher(glob) }
}
