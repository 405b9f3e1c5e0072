/**
 * deploy/systemd: both units pass `systemd-analyze verify` with no warning and meet an exposure
 * threshold of `systemd-analyze security`; what they run (the /usr/local/bin/shoal wrapper, their
 * flags and example environment files) works with the real shoal command and parsers.
 */
import { execFile } from 'node:child_process'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { resolveAgentConfig } from '@shoal/agent'
import { resolveSchedulerConfig } from '@shoal/scheduler/cli'
import { tempDir } from './helpers/temp.ts'

const run = promisify(execFile)
const REPO = fileURLToPath(new URL('..', import.meta.url))
const UNITS = join(REPO, 'deploy/systemd')
/** The highest `systemd-analyze security` exposure (0 to 10) the units may have. */
const MAX_EXPOSURE = 2.0

const has = async (command: string): Promise<boolean> => await run(command, ['--version']).then(() => true, () => false)
const analyze = await has('systemd-analyze')
if (!analyze) console.warn('deploy-systemd: systemd-analyze is not on PATH (Debian: systemd): the units are not verified')
const sysusers = await has('systemd-sysusers')
const check = analyze ? test : test.skip

/** `[Section] Key=value` lines of a unit file, every value of a repeated key in order. */
async function readUnit (name: string): Promise<Map<string, string[]>> {
  const entries = new Map<string, string[]>()
  let section = ''
  for (const line of (await readFile(join(UNITS, name), 'utf8')).split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line)
    if (header != null) section = header[1] ?? ''
    const entry = /^(\w+)=(.*)$/.exec(line)
    if (entry == null) continue
    const key = `${section}.${entry[1] ?? ''}`
    entries.set(key, [...entries.get(key) ?? [], entry[2] ?? ''])
  }
  return entries
}

/** The wrapper as installed, but running this checkout instead of /opt/shoal. */
async function localWrapper (t: ExecutionContext): Promise<string> {
  const dir = await tempDir(t, 'wrapper')
  const text = await readFile(join(UNITS, 'shoal'), 'utf8')
  t.regex(text, /^root=\/opt\/shoal$/m)
  const wrapper = join(dir, 'shoal')
  await writeFile(wrapper, text.replace(/^root=\/opt\/shoal$/m, `root=${REPO.replace(/\/$/, '')}`))
  await chmod(wrapper, 0o755)
  return wrapper
}

/** Temp copies of the units whose ExecStart runs `wrapper` (verify needs an existing executable). */
async function unitCopies (t: ExecutionContext, wrapper: string): Promise<string[]> {
  const dir = await tempDir(t, 'units')
  const copies = []
  for (const name of ['shoal-agent.service', 'shoal-scheduler.service']) {
    const text = await readFile(join(UNITS, name), 'utf8')
    t.regex(text, /^ExecStart=\/usr\/local\/bin\/shoal /m)
    await writeFile(join(dir, name), text.replace(/^ExecStart=\/usr\/local\/bin\/shoal /m, `ExecStart=${wrapper} `))
    copies.push(join(dir, name))
  }
  return copies
}

/** SHOAL_* settings of an example environment file: the active lines and the commented examples. */
async function exampleEnv (name: string, files: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = {}
  for (const line of (await readFile(join(UNITS, name), 'utf8')).split('\n')) {
    const match = /^#?(SHOAL_[A-Z_]+)=(.*)$/.exec(line)
    if (match?.[1] != null) env[match[1]] = files[match[1]] ?? match[2]
  }
  return env
}

check('systemd-analyze verify accepts both units without a warning', async t => {
  const units = await unitCopies(t, await localWrapper(t))
  const { stderr } = await run('systemd-analyze', ['verify', '--man=no', ...units])
  t.is(stderr, '')
})

check(`both units are hardened to an exposure of at most ${MAX_EXPOSURE} (systemd-analyze security)`, async t => {
  for (const unit of await unitCopies(t, await localWrapper(t))) {
    const { stdout } = await run('systemd-analyze', ['security', '--offline=true', `--threshold=${MAX_EXPOSURE * 10}`, unit])
    const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(stdout)?.[1])
    t.log(`${unit.split('/').pop() ?? ''}: exposure ${exposure}`)
    t.true(exposure <= MAX_EXPOSURE, stdout)
  }
})

check('the wrapper runs the shoal command with no Node flag of its own (each command adds its own); an invalid setting exits 2, which is not restarted', async t => {
  t.true((await readFile(join(UNITS, 'shoal'), 'utf8')).includes('/node" "$root/packages/cli/bin/shoal.js" "$@"'))
  const wrapper = await localWrapper(t)
  const help = await run(wrapper, ['agent', '--help'])
  t.regex(help.stdout, /usage: shoal agent/)
  for (const [name, args] of [['shoal-agent.service', ['agent', '--listen=nowhere']], ['shoal-scheduler.service', ['scheduler', '--admin=nowhere']]] as const) {
    const unit = await readUnit(name)
    const failed = await run(wrapper, [...args], { env: { PATH: process.env.PATH } }).then(() => undefined, (err: { code?: number }) => err)
    t.is(failed?.code, 2, name)
    t.deepEqual(unit.get('Service.RestartPreventExitStatus'), [String(failed?.code)], name)
    t.deepEqual(unit.get('Service.Restart'), ['on-failure'], name)
  }
})

check('the agent unit: its flags and example settings parse, its data dir is its StateDirectory, reload is SIGHUP', async t => {
  const unit = await readUnit('shoal-agent.service')
  const [, command, ...flags] = (unit.get('Service.ExecStart')?.[0] ?? '').split(/\s+/)
  t.is(command, 'agent')
  t.deepEqual(flags, [`--data-dir=%S/${unit.get('Service.StateDirectory')?.[0] ?? 'none'}`])
  t.deepEqual(unit.get('Service.ExecReload'), ['/bin/kill -HUP $MAINPID'])
  t.deepEqual(unit.get('Service.EnvironmentFile'), ['-/etc/default/shoal-agent'])
  const dir = await tempDir(t, 'agent-unit')
  await writeFile(join(dir, 'agent.yaml'), 'upstreams: [docker.io]\n')
  const env = await exampleEnv('shoal-agent.env', { SHOAL_CONFIG: join(dir, 'agent.yaml') })
  t.true(Object.keys(env).length > 3)
  const config = await resolveAgentConfig({ argv: [`--data-dir=${join(dir, 'state')}`], env })
  t.is(config.dataDir, join(dir, 'state'))
  t.like(config.listen, { host: '127.0.0.1', port: 65001 })
  t.like(config.metricsListen, { host: '0.0.0.0', port: 65005 })
  t.is(config.p2p?.membership.kind, 'scheduler')
})

check('the scheduler unit: its flags and example settings parse, its data dir is its StateDirectory, no SIGHUP', async t => {
  const unit = await readUnit('shoal-scheduler.service')
  const [, command, ...flags] = (unit.get('Service.ExecStart')?.[0] ?? '').split(/\s+/)
  t.is(command, 'scheduler')
  t.deepEqual(flags, [`--data-dir=%S/${unit.get('Service.StateDirectory')?.[0] ?? 'none'}`])
  // The scheduler handles SIGINT and SIGTERM only: SIGHUP would end it.
  t.is(unit.get('Service.ExecReload'), undefined)
  t.deepEqual(unit.get('Service.EnvironmentFile'), ['-/etc/default/shoal-scheduler'])
  const dir = await tempDir(t, 'scheduler-unit')
  const config = resolveSchedulerConfig([`--data-dir=${join(dir, 'state')}`], await exampleEnv('shoal-scheduler.env'))
  t.is(config.dataDir, join(dir, 'state'))
  t.deepEqual(config.admin, { host: '127.0.0.1', port: 65004 })
  t.deepEqual(config.listen, ['/ip4/0.0.0.0/tcp/65003'])
})

;(analyze && sysusers ? test : test.skip)('systemd-sysusers makes the user and group the units run as', async t => {
  const root = await tempDir(t, 'sysusers')
  await mkdir(join(root, 'etc'))
  await run('systemd-sysusers', [`--root=${root}`, join(UNITS, 'shoal.sysusers.conf')])
  const passwd = await readFile(join(root, 'etc/passwd'), 'utf8')
  const group = await readFile(join(root, 'etc/group'), 'utf8')
  for (const name of ['shoal-agent.service', 'shoal-scheduler.service']) {
    const unit = await readUnit(name)
    t.regex(passwd, new RegExp(`^${unit.get('Service.User')?.[0] ?? '-'}:x:\\d+:\\d+:.*:/usr/sbin/nologin$`, 'm'))
    t.regex(group, new RegExp(`^${unit.get('Service.Group')?.[0] ?? '-'}:x:\\d+:`, 'm'))
  }
})
