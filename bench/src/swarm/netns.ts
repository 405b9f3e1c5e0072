/**
 * The simulated network of netns mode: a "switch" namespace holding a bridge with no address,
 * and one namespace per simulated machine joined to it by a veth pair, each end shaped by a
 * `tc tbf` qdisc (the egress of each end shapes one direction; the machine's end queues without
 * dropping, see TBF_HOST_LIMIT_BYTES). Nothing is added to the bench's
 * own namespace: every veth is created inside the switch namespace with its peer made directly in
 * the machine's. Every name carries a per-run prefix; `remove()` deletes every namespace (which
 * takes their links along), and a synchronous exit hook does the same if the bench dies first.
 */
import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { LINK_MTU, TBF_BURST_BYTES, TBF_HOST_LIMIT_BYTES, TBF_LATENCY_MS } from './constants.ts'
import { NetnsError } from './errors.ts'
import type { Place } from './places.ts'

const execFileAsync = promisify(execFile)

export interface Machine extends Place {
  netns: string
  /** Its address on the simulated network. */
  ip: string
  /** The machine's side of its link (always eth0) and the switch's side. */
  ifname: string
  switchIfname: string
}

export interface MachineInit {
  /** Short label, also the switch-side link name: h0, d3, origin. */
  name: string
  /** The last octet of its address in the run's /24. */
  octet: number
  /** Both directions of its link; unshaped when absent. */
  bytesPerSecond?: number
}

export interface TopologyInit {
  /**
   * `net.ipv4.tcp_congestion_control` in every machine's namespace (reno, bbr, ...); unset, a new
   * namespace takes the one the machine boots with. What the bench's hosts lose at the switch
   * depends on it (docs/dev/relay-latency.md).
   */
  congestionControl?: string
  signal?: AbortSignal
}

export class Topology {
  readonly prefix: string
  readonly subnet: string
  private readonly switchNs: string
  private readonly congestionControl?: string
  private readonly namespaces: string[] = []
  private readonly onExit = (): void => { this.removeNow() }

  private constructor (prefix: string, subnet: string, congestionControl?: string) {
    this.prefix = prefix
    this.subnet = subnet
    this.switchNs = `${prefix}-switch`
    this.congestionControl = congestionControl
  }

  /** The switch namespace and its bridge; `remove()` (or the process exiting) takes everything away. */
  static async create (opts: TopologyInit = {}): Promise<Topology> {
    const id = randomBytes(3)
    const topology = new Topology(`shoal-swarm-${id.toString('hex')}`, `10.213.${id[0] ?? 0}`, opts.congestionControl)
    process.on('exit', topology.onExit)
    try {
      await topology.addNamespace(topology.switchNs, opts.signal)
      await topology.ip(['-n', topology.switchNs, 'link', 'add', 'br0', 'mtu', String(LINK_MTU), 'type', 'bridge'], opts.signal)
      await topology.ip(['-n', topology.switchNs, 'link', 'set', 'br0', 'up'], opts.signal)
    } catch (err) {
      await topology.remove()
      throw err
    }
    return topology
  }

  /** A namespace joined to the switch at `<subnet>.<octet>/24`, loopback up, its link shaped when a rate is given. */
  async addMachine (init: MachineInit, opts: { signal?: AbortSignal } = {}): Promise<Machine> {
    const netns = `${this.prefix}-${init.name}`
    const ip = `${this.subnet}.${init.octet}`
    const sw = init.name.slice(0, 15)
    const signal = opts.signal
    await this.addNamespace(netns, signal)
    if (this.congestionControl != null) await this.setCongestionControl(netns, this.congestionControl, signal)
    const mtu = String(LINK_MTU)
    await this.ip(['-n', this.switchNs, 'link', 'add', sw, 'mtu', mtu, 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', mtu, 'netns', netns], signal)
    await this.ip(['-n', this.switchNs, 'link', 'set', sw, 'master', 'br0', 'up'], signal)
    await this.ip(['-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0'], signal)
    await this.ip(['-n', netns, 'link', 'set', 'eth0', 'up'], signal)
    await this.ip(['-n', netns, 'link', 'set', 'lo', 'up'], signal)
    if (init.bytesPerSecond != null) {
      // The machine's side never drops (see TBF_HOST_LIMIT_BYTES); the switch's side drops as a router would.
      await this.shape(netns, 'eth0', init.bytesPerSecond, ['limit', String(TBF_HOST_LIMIT_BYTES)], signal)
      await this.shape(this.switchNs, sw, init.bytesPerSecond, ['latency', `${TBF_LATENCY_MS}ms`], signal)
    }
    return { name: init.name, netns, ip, ifname: 'eth0', switchIfname: sw }
  }

  /** The TCP congestion control new connections of the machine use. */
  async congestionControlOf (machine: Machine, opts: { signal?: AbortSignal } = {}): Promise<string> {
    return (await this.sysctl(machine.netns, ['net.ipv4.tcp_congestion_control'], opts.signal)).trim()
  }

  /** Bytes the machine has sent on its link (its egress, headers included). */
  async txBytes (machine: Machine, opts: { signal?: AbortSignal } = {}): Promise<number> {
    const { stdout } = await this.run('ip', ['-n', machine.netns, '-json', '-statistics', 'link', 'show', 'dev', machine.ifname], opts.signal)
    const parsed = JSON.parse(stdout) as Array<{ stats64?: { tx?: { bytes?: number } } }>
    const bytes = parsed[0]?.stats64?.tx?.bytes
    if (typeof bytes !== 'number') throw new NetnsError(`no tx byte count for ${machine.ifname} in ${machine.netns}`)
    return bytes
  }

  /**
   * TCP segments the machine's kernel has sent again so far (RetransSegs of its namespace's
   * /proc/net/snmp): each is a segment its link carried twice, mostly after a drop at a full queue.
   */
  async tcpRetransmits (machine: Machine, opts: { signal?: AbortSignal } = {}): Promise<number> {
    const { stdout } = await this.run('ip', ['netns', 'exec', machine.netns, 'cat', '/proc/net/snmp'], opts.signal)
    const [names, values] = stdout.split('\n').filter(line => line.startsWith('Tcp:')).map(line => line.trim().split(/\s+/))
    const at = names?.indexOf('RetransSegs') ?? -1
    const count = at < 0 ? NaN : Number(values?.[at])
    if (!Number.isSafeInteger(count)) throw new NetnsError(`no TCP RetransSegs in ${machine.netns}'s /proc/net/snmp`)
    return count
  }

  /**
   * Every machine's link counters at one instant, by machine name, read in one call from the
   * switch's side of the veths: what the switch sends is what the machine receives.
   */
  async linkCounters (opts: { signal?: AbortSignal } = {}): Promise<Map<string, { inBytes: number, outBytes: number }>> {
    const { stdout } = await this.run('ip', ['-n', this.switchNs, '-json', '-statistics', 'link', 'show', 'type', 'veth'], opts.signal)
    const parsed = JSON.parse(stdout) as Array<{ ifname?: string, stats64?: { rx?: { bytes?: number }, tx?: { bytes?: number } } }>
    const counters = new Map<string, { inBytes: number, outBytes: number }>()
    for (const link of parsed) {
      const tx = link.stats64?.tx?.bytes
      const rx = link.stats64?.rx?.bytes
      if (link.ifname == null || typeof tx !== 'number' || typeof rx !== 'number') continue
      counters.set(link.ifname, { inBytes: tx, outBytes: rx })
    }
    return counters
  }

  /** Deletes a machine's namespace (its link goes with it). Its processes must be stopped first. */
  async removeMachine (machine: Machine): Promise<void> {
    await this.deleteNamespace(machine.netns)
  }

  /** Deletes every namespace of the run, machines first, then the switch. */
  async remove (): Promise<void> {
    const failures: string[] = []
    for (const netns of [...this.namespaces].reverse()) {
      try {
        await this.deleteNamespace(netns)
      } catch (err) {
        failures.push((err as Error).message)
      }
    }
    process.off('exit', this.onExit)
    if (failures.length > 0) throw new NetnsError(`could not remove every namespace: ${failures.join('; ')}`)
  }

  /** Synchronous last resort (process exit). */
  private removeNow (): void {
    for (const netns of [...this.namespaces].reverse()) {
      try {
        execFileSync('ip', ['netns', 'delete', netns], { stdio: 'ignore' })
      } catch {
        // already gone
      }
    }
    this.namespaces.length = 0
  }

  /** `queue`: tbf's `latency MS` or `limit BYTES`. */
  private async shape (netns: string, dev: string, bytesPerSecond: number, queue: [string, string], signal?: AbortSignal): Promise<void> {
    const rate = `${Math.round(bytesPerSecond * 8)}bit`
    await this.run('tc', ['-n', netns, 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', rate, 'burst', String(TBF_BURST_BYTES), ...queue], signal)
  }

  private async setCongestionControl (netns: string, name: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.sysctl(netns, ['-w', `net.ipv4.tcp_congestion_control=${name}`], signal)
    } catch (err) {
      // A namespace may choose only what the machine allows namespaces (cubic may be missing here).
      const allowed = await this.sysctl(netns, ['net.ipv4.tcp_allowed_congestion_control'], signal).catch(() => '?')
      throw new NetnsError(`TCP congestion control ${JSON.stringify(name)} cannot be set in ${netns}; allowed there: ${allowed.trim()}`, { cause: err })
    }
  }

  /** `sysctl -n ARGS` inside `netns`: the values alone. */
  private async sysctl (netns: string, args: string[], signal?: AbortSignal): Promise<string> {
    return (await this.run('ip', ['netns', 'exec', netns, 'sysctl', '-n', ...args], signal)).stdout
  }

  private async addNamespace (netns: string, signal?: AbortSignal): Promise<void> {
    await this.ip(['netns', 'add', netns], signal)
    this.namespaces.push(netns)
  }

  private async deleteNamespace (netns: string): Promise<void> {
    const i = this.namespaces.indexOf(netns)
    if (i < 0) return
    await this.ip(['netns', 'delete', netns])
    this.namespaces.splice(i, 1)
  }

  private async ip (args: string[], signal?: AbortSignal): Promise<void> {
    await this.run('ip', args, signal)
  }

  private async run (command: string, args: string[], signal?: AbortSignal): Promise<{ stdout: string }> {
    try {
      return await execFileAsync(command, args, { signal, encoding: 'utf8' })
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? ''
      throw new NetnsError(`${command} ${args.join(' ')} failed: ${stderr.trim() || (err as Error).message}`, { cause: err })
    }
  }
}

/** Whether netns mode can run here: root, iproute2, and a namespace can be made and removed. */
export async function netnsAvailable (): Promise<{ ok: true } | { ok: false, why: string }> {
  if (process.getuid?.() !== 0) return { ok: false, why: 'not root' }
  const probe = `shoal-swarm-probe-${process.pid}`
  try {
    await execFileAsync('ip', ['netns', 'add', probe])
  } catch (err) {
    return { ok: false, why: `ip netns add failed: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}` }
  }
  try {
    await execFileAsync('ip', ['netns', 'delete', probe])
  } catch (err) {
    return { ok: false, why: `ip netns delete failed: ${(err as Error).message}` }
  }
  try {
    await execFileAsync('tc', ['-V'])
    await execFileAsync('curl', ['--version'])
  } catch (err) {
    return { ok: false, why: `tc or curl missing: ${(err as Error).message}` }
  }
  return { ok: true }
}
