/** closed: requests go through; open: failed fast until the cool-down ends; half-open: one probe goes through. */
export type BreakerState = 'closed' | 'open' | 'half-open'

export interface CircuitBreakerInit {
  /** Consecutive failures that open an endpoint's circuit. */
  failureThreshold: number
  /** How long an open circuit fails fast before one probe request is let through. */
  cooldownMs: number
  now?: () => number
  /** Told of every change of an endpoint's state (metrics, logs). */
  onStateChange?: (key: string, state: BreakerState, lastError: Error | undefined) => void
}

interface Circuit {
  failures: number
  state: BreakerState
  /** When the circuit opened, or when the half-open probe was let through. */
  since: number
  lastError?: Error
}

/**
 * A circuit breaker per upstream endpoint (keyed by its origin URL): closed while it answers;
 * open after `failureThreshold` consecutive failures (refused, timed out, 5xx), when requests skip
 * it at once instead of waiting on it; after `cooldownMs` one probe request goes through
 * (half-open), whose success closes the circuit and whose failure opens it for another cool-down.
 * A probe whose outcome is never reported (its request was aborted) lets another through after a
 * further cool-down. Pure bookkeeping: no timers, the clock is injected.
 */
export class CircuitBreaker {
  private readonly init: CircuitBreakerInit
  private readonly now: () => number
  private readonly circuits = new Map<string, Circuit>()

  constructor (init: CircuitBreakerInit) {
    this.init = init
    this.now = init.now ?? Date.now
  }

  /** Whether a request may go to `key` now; true for the one probe of a half-open circuit. */
  allow (key: string): boolean {
    const circuit = this.circuits.get(key)
    if (circuit == null || circuit.state === 'closed') return true
    if (this.now() - circuit.since < this.init.cooldownMs) return false
    circuit.since = this.now()
    this.set(key, circuit, 'half-open')
    return true
  }

  success (key: string): void {
    const circuit = this.circuits.get(key)
    if (circuit == null) return
    circuit.failures = 0
    circuit.lastError = undefined
    this.circuits.delete(key)
    if (circuit.state !== 'closed') this.set(key, circuit, 'closed')
  }

  failure (key: string, error: Error): void {
    let circuit = this.circuits.get(key)
    if (circuit == null) {
      circuit = { failures: 0, state: 'closed', since: this.now() }
      this.circuits.set(key, circuit)
    }
    circuit.failures++
    circuit.lastError = error
    if (circuit.state === 'half-open' || (circuit.state === 'closed' && circuit.failures >= this.init.failureThreshold)) {
      circuit.since = this.now()
      this.set(key, circuit, 'open')
    }
  }

  state (key: string): BreakerState {
    return this.circuits.get(key)?.state ?? 'closed'
  }

  /** Why an open circuit opened, and when it lets a probe through. */
  describe (key: string): { failures: number, lastError?: Error, retryInMs: number } {
    const circuit = this.circuits.get(key)
    if (circuit == null) return { failures: 0, retryInMs: 0 }
    return { failures: circuit.failures, lastError: circuit.lastError, retryInMs: Math.max(0, circuit.since + this.init.cooldownMs - this.now()) }
  }

  private set (key: string, circuit: Circuit, state: BreakerState): void {
    circuit.state = state
    this.init.onStateChange?.(key, state, circuit.lastError)
  }
}
