/**
 * The child process of `bench scheduler`: runs one size (given as JSON in argv[2]) and prints its
 * SizeResult as one JSON line on stdout. A process per size, so that its peak RSS and heap are its own.
 */
import { runSize } from './load-run.ts'
import type { SizeInit } from './load-run.ts'

const init = JSON.parse(process.argv[2] ?? '{}') as SizeInit
process.stdout.write(JSON.stringify(runSize(init)) + '\n')
