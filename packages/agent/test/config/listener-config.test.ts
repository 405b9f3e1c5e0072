import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { resolveAgentConfig } from '../../src/config/index.ts'
import { isLoopbackHost } from '../../src/config/listener.ts'

/** A self-signed certificate and its key (openssl), and a second key that is not its. */
async function certFiles (t: ExecutionContext): Promise<{ dir: string, cert: string, key: string, otherKey: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-listener-config-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const cert = join(dir, 'tls.crt')
  const key = join(dir, 'tls.key')
  const otherKey = join(dir, 'other.key')
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=mirror', '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'ignore' })
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', otherKey], { stdio: 'ignore' })
  return { dir, cert, key, otherKey }
}

test('loopback is 127.0.0.0/8, ::1 in any spelling and localhost; nothing else', t => {
  for (const host of ['127.0.0.1', '127.3.2.1', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost']) t.true(isLoopbackHost(host), host)
  for (const host of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'fe80::1', 'mirror.local', '128.0.0.1']) t.false(isLoopbackHost(host), host)
})

test('the default listener and any loopback one need neither TLS nor --insecure-listen, and warn of nothing', async t => {
  for (const listen of [[], ['--listen', '127.0.0.1:0'], ['--listen', '[::1]:0'], ['--listen', 'localhost:65001']]) {
    const config = await resolveAgentConfig({ argv: listen, env: {} })
    t.is(config.tls, undefined)
    t.false(config.insecureListen)
    t.deepEqual(config.warnings, [])
  }
})

test('a non-loopback listener without TLS is refused naming the field, unless --insecure-listen, which warns', async t => {
  const refused = await t.throwsAsync(resolveAgentConfig({ argv: ['--listen', '0.0.0.0:65001'], env: {} }), { name: 'ConfigError' })
  t.regex(refused?.message ?? '', /^--listen: 0\.0\.0\.0:65001 is reachable from other hosts/)
  t.regex(refused?.message ?? '', /--tls-cert FILE and --tls-key FILE.*--insecure-listen/)
  const fromEnv = await t.throwsAsync(resolveAgentConfig({ argv: [], env: { SHOAL_LISTEN: '10.1.2.3:65001' } }), { name: 'ConfigError' })
  t.regex(fromEnv?.message ?? '', /^SHOAL_LISTEN: 10\.1\.2\.3:65001/)

  const open = await resolveAgentConfig({ argv: ['--listen', '0.0.0.0:65001', '--insecure-listen'], env: {} })
  t.true(open.insecureListen)
  t.is(open.warnings.length, 1)
  t.regex(open.warnings[0] ?? '', /anyone who reaches the port can pull through it/)
  t.regex(open.warnings[0] ?? '', /--tls-cert FILE and --tls-key FILE/)
  const fromEnvOpen = await resolveAgentConfig({ argv: [], env: { SHOAL_LISTEN: '[::]:65001', SHOAL_INSECURE_LISTEN: 'true' } })
  t.true(fromEnvOpen.insecureListen)
})

test('TLS: both files or neither, a client CA only with them, paths resolved; YAML keys tlsCert, tlsKey, tlsClientCa', async t => {
  const { dir, cert, key } = await certFiles(t)
  const noKey = await t.throwsAsync(resolveAgentConfig({ argv: ['--tls-cert', cert], env: {} }), { name: 'ConfigError' })
  t.regex(noKey?.message ?? '', /^tlsKey: --tls-cert is given/)
  const noCert = await t.throwsAsync(resolveAgentConfig({ argv: [], env: { SHOAL_TLS_KEY: key } }), { name: 'ConfigError' })
  t.regex(noCert?.message ?? '', /^tlsCert: SHOAL_TLS_KEY is given/)
  const caAlone = await t.throwsAsync(resolveAgentConfig({ argv: ['--tls-client-ca', cert], env: {} }), { name: 'ConfigError' })
  t.regex(caAlone?.message ?? '', /^--tls-client-ca: client certificates are asked for only over TLS/)

  const file = join(dir, 'agent.yaml')
  await writeFile(file, `listen: 0.0.0.0:65001\ntlsCert: ${cert}\ntlsKey: ${key}\ntlsClientCa: ${cert}\n`)
  const config = await resolveAgentConfig({ argv: ['--config', file], env: {} })
  t.deepEqual(config.tls, { certFile: cert, keyFile: key, clientCaFile: cert })
  t.deepEqual(config.warnings, [], 'TLS on a non-loopback listener is no warning')
})

test('TLS files are read and checked at start: a ConfigError names the file that is missing, not PEM, or the wrong key', async t => {
  const { dir, cert, key, otherKey } = await certFiles(t)
  const notPem = join(dir, 'not.pem')
  await writeFile(notPem, 'hello\n')
  const cases: Array<[string[], RegExp]> = [
    [['--tls-cert', join(dir, 'missing.crt'), '--tls-key', key], /^tlsCert: cannot read .*missing\.crt/],
    [['--tls-cert', notPem, '--tls-key', key], /^tlsCert: .*not\.pem is not a PEM certificate/],
    [['--tls-cert', cert, '--tls-key', notPem], /^tlsKey: .*not\.pem is not a PEM private key/],
    [['--tls-cert', cert, '--tls-key', otherKey], /^tlsKey: .*other\.key is not the private key of the certificate in .*tls\.crt/],
    [['--tls-cert', cert, '--tls-key', key, '--tls-client-ca', notPem], /^tlsClientCa: .*not\.pem is not a PEM CA certificate/]
  ]
  for (const [argv, expected] of cases) {
    const err = await t.throwsAsync(resolveAgentConfig({ argv, env: {} }), { name: 'ConfigError' }, argv.join(' '))
    t.regex(err?.message ?? '', expected)
  }
})
