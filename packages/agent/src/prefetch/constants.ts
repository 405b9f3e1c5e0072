/** Limits and timeouts of prefetch, with units in their names. */

/** How long the mirror may take to connect. */
export const MIRROR_CONNECT_TIMEOUT_MS = 10_000
/**
 * How long the mirror may take to send the headers of an answer. Long: for a cold blob the mirror
 * first asks the origin (with retries) or its peers before it answers.
 */
export const MIRROR_HEADERS_TIMEOUT_MS = 120_000
/** How long a body from the mirror may stall before the request is given up. */
export const MIRROR_BODY_IDLE_TIMEOUT_MS = 120_000
/** resolveImages is bounded by this when the caller gives no signal. */
export const RESOLVE_TIMEOUT_MS = 10 * 60_000
/** Images of one resolveImages call resolved at once. */
export const RESOLVE_CONCURRENCY = 4
/** An index may point at an index this deep, at most (the top one is depth 0). */
export const MAX_INDEX_DEPTH = 2
/** Pages of a tag list followed through `Link` headers, at most. */
export const TAG_LIST_MAX_PAGES = 100
/** Tags of one repository, at most. */
export const TAG_LIST_MAX_TAGS = 100_000
/** Bytes of one tag list page, at most. */
export const TAG_LIST_MAX_PAGE_BYTES = 8 * 1024 * 1024
/** An error body is read this far for its message. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024
/** Bytes read of a blob between two progress reports, at least (besides the last one). */
export const PROGRESS_REPORT_BYTES = 64 * 1024
