/**
 * `--public-repository` globs (`docker.io/library/*`, `*` for any characters) as one predicate over
 * a registry and a repository: the access check skips the origin for them, and the share policy
 * counts their blobs as served to anyone.
 */
export function publicRepositoryMatcher (globs: readonly string[]): (registry: string, repository: string) => boolean {
  const patterns = globs.map(glob => new RegExp(`^${glob.split('*').map(part => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`))
  return (registry, repository) => patterns.some(p => p.test(`${registry}/${repository}`))
}
