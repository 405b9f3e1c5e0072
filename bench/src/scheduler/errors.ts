/**
 * Named errors of the scheduler benchmark. Callers match on `err.name`, never on the message.
 */
import { namedError } from '@shoal/proto'

/** The child process of one size failed or printed no result. */
export class SizeRunError extends namedError('SizeRunError') {}
