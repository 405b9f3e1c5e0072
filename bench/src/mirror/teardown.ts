import type { ChildProcess } from 'node:child_process'

/**
 * Everything the benchmark started, stopped in reverse order whether it ends normally, fails or is
 * interrupted. Child processes are also tracked by PID so that a second Ctrl-C, or the process
 * exiting, SIGKILLs exactly the ones still running and nothing else.
 */
export class Teardown {
  private readonly steps: Array<{ what: string, fn: () => Promise<void> }> = []
  private readonly children = new Set<ChildProcess>()
  private running?: Promise<void>

  /** Registers a stop step; steps run last-in first-out. Returns a function that runs it early. */
  defer (what: string, fn: () => Promise<void>): () => Promise<void> {
    const step = { what, fn }
    this.steps.push(step)
    return async () => {
      const i = this.steps.indexOf(step)
      if (i < 0) return
      this.steps.splice(i, 1)
      await step.fn()
    }
  }

  track (child: ChildProcess): void {
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
  }

  /** Runs every remaining step once; concurrent callers share the one run. */
  async run (): Promise<void> {
    this.running ??= (async () => {
      while (this.steps.length > 0) {
        const step = this.steps.pop()
        if (step == null) break
        try {
          await step.fn()
        } catch (err) {
          console.error(`bench: stopping ${step.what} failed: ${(err as Error).message}`)
        }
      }
    })()
    await this.running
  }

  /** Last resort, synchronous: SIGKILL each tracked child still running, by its own handle. */
  killChildrenNow (): void {
    for (const child of this.children) {
      if (child.exitCode == null && child.signalCode == null) child.kill('SIGKILL')
    }
  }
}
