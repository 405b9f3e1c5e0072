import { configureCommand } from '@shoal/agent/configure'

export interface ConfigureRun {
  code: number
  stdout: string[]
  stderr: string[]
}

/** `shoal configure ARGS` in this process; the output is collected, not printed. */
export async function runConfigure (args: string[]): Promise<ConfigureRun> {
  const stdout: string[] = []
  const stderr: string[] = []
  const code = await configureCommand(args, { stdout: line => stdout.push(line), stderr: line => stderr.push(line) })
  return { code, stdout, stderr }
}
