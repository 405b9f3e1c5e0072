/** The text of `shoal prefetch --help`. */
export const PREFETCH_USAGE = `usage: shoal prefetch IMAGE... [options]
       shoal prefetch status JOB [--wait] [--json] [--scheduler ADDR] [--admin-token-file F]
       shoal prefetch cancel JOB [--json] [--scheduler ADDR] [--admin-token-file F]
       shoal prefetch jobs [--json] [--scheduler ADDR] [--admin-token-file F]

Fetches the layers of images into agents ahead of a rollout.

images:
  IMAGE                   [registry/]repository[:tag|@sha256:...]; a repository with neither is :latest
  --tags GLOB             a tag filter ('v1.*', '*-latest'): every IMAGE that names no tag or digest
                          stands for the repository's tags that match; IMAGEs with a tag or digest are
                          taken as they are. For a different filter per repository, use --from-file.
  --from-file FILE        one image a line: IMAGE, or REPOSITORY --tags GLOB; '#' comments, blank
                          lines skipped; '-' reads standard input; repeatable, added to the IMAGEs
  --platform OS/ARCH[/V]  for an image index, the platforms to fetch (repeatable); default: the agents'
                          own (--agent mode: this host's platform)

where:
  --scheduler ADDR        the scheduler's admin address (shoal scheduler --admin): http://HOST:PORT,
                          HOST:PORT or /ip4/HOST/tcp/PORT (/ip6, /dns, /dns4, /dns6); the scheduler runs
                          the job as a job of its own. Default: SHOAL_PREFETCH_SCHEDULER
  --admin-token-file F    the scheduler's admin token (shoal scheduler prints where it is; default:
                          SHOAL_ADMIN_TOKEN_FILE, else .shoal/scheduler/admin-token)
  --agent URL             without a scheduler: this command fetches every layer through that agent's
                          mirror itself (default: SHOAL_PREFETCH_AGENT, else http://127.0.0.1:65001)
  --scope SCOPE           agent            the agent of --agent fetches every layer (the default
                                           without --scheduler, and the only scope there)
                          agent:PEER_ID    with --scheduler: that agent fetches every layer
                          site:NAME        with --scheduler: the layers are spread over the site's
                                           agents (--spread), each read from the origin about once
                          all              with --scheduler: every agent ends with every layer
                          With --scheduler, --scope is required.
  --replicas N            site scope: copies of each piece (or layer) in the site (1-16, default 1)
  --spread pieces|blobs   site scope: pieces (default) gives every agent a stripe of every layer's
                          pieces, so a rollout draws on every agent at once; blobs puts whole
                          layers on single agents

how:
  --concurrency N         layers one agent fetches at once (1-64, default 4)
  --timeout DURATION      what is not done by then fails with "timeout" (30s, 10m, 1h; default 1h)
  --detach                with --scheduler: print the job id and return at once
  --json                  print a summary as JSON on standard output, no progress display
  -h, --help              this text

status JOB shows a scheduler's job (--wait follows it to the end, as a prefetch does); cancel JOB
cancels it; jobs lists the scheduler's jobs. (An image named status, cancel or jobs: write its
tag, as in status:latest.)

Progress goes to standard error: bars in a terminal, otherwise a line when something changed (at most
every 2 s) and a line per layer that fails. The summary goes to standard output and names each failed
layer or image with its reason (unauthorized, not-found, timeout, unavailable, invalid, cancelled,
failed). Ctrl-C cancels the job and exits 130.

exit status: 0 when every layer of every image is done; 1 when an image or a layer failed, or the job
failed or was cancelled; 2 on a usage error; 130 when interrupted.
`
