/**
 * What a blob or manifest handler tells the access log about the request it served: where the
 * bytes came from and how many went out (when the Content-Length does not say it).
 */
export interface PullNote {
  /** When the request came (performance.now()), and from where. */
  started?: number
  client?: string
  registry?: string
  repository?: string
  /** local: the store or the manifest cache; peer: a download from peers; origin: the upstream. */
  source?: 'local' | 'peer' | 'origin'
  /** What was served, when the request did not name it (a manifest by tag). */
  digest?: string
  /** Body bytes sent. */
  bytes?: number
}
