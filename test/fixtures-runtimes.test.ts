/** The fixtures for podman and containerd as clients, checked on their own. */
import { execFile } from 'node:child_process'
import { access, mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import test from 'ava'
import { podmanPull, pushImage, startContainerd, startRegistry, tarLayer } from './fixtures/index.ts'
import { tempDir } from './helpers/temp.ts'

const execFileAsync = promisify(execFile)

test('tarLayer is a tar archive that tar(1) lists and extracts, the same bytes each time', async t => {
  const files = { 'etc/hello.txt': 'hi\n', 'data.bin': Buffer.alloc(1_000, 7) }
  const layer = tarLayer(files)
  t.deepEqual(layer, tarLayer(files))
  t.is(layer.length % 512, 0)
  const dir = await tempDir(t, 'tar-layer')
  await writeFile(join(dir, 'layer.tar'), layer)
  const listed = await execFileAsync('tar', ['-tvf', join(dir, 'layer.tar')])
  t.regex(listed.stdout, /-rw-r--r-- 0\/0 +3 1970-01-01 00:00 etc\/hello.txt/)
  t.regex(listed.stdout, /1000 1970-01-01 00:00 data.bin/)
  const extracted = await execFileAsync('tar', ['-xOf', join(dir, 'layer.tar'), 'etc/hello.txt'])
  t.is(extracted.stdout, 'hi\n')
})

test('podman and containerd pull from a plain-HTTP registry; a missing tag is a named error; containerd stops by PID', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'fixture/app', tag: 'v1', format: 'docker', layers: [tarLayer({ 'etc/app': 'app\n' })] })
  const dir = await tempDir(t, 'runtime-fixtures')
  const registriesConf = join(dir, 'registries.conf')
  await writeFile(registriesConf, `[[registry]]\nlocation = ${JSON.stringify(registry.host)}\ninsecure = true\n`)
  t.is((await podmanPull({ image: `${registry.host}/fixture/app:v1`, registriesConf })).digest, image.manifestDigest)
  await t.throwsAsync(podmanPull({ image: `${registry.host}/fixture/app:nope`, registriesConf }), { name: 'PodmanPullError' })

  const hostsDir = join(dir, 'certs.d')
  await mkdir(join(hostsDir, registry.host), { recursive: true })
  // containerd 1.6 cannot decode a hosts.toml without a [host] table (it logs so and ignores the file).
  await writeFile(join(hostsDir, registry.host, 'hosts.toml'), `server = "http://${registry.host}"\n[host."http://${registry.host}"]\ncapabilities = ["pull", "resolve"]\n`)
  const containerd = await startContainerd()
  t.teardown(containerd.stop)
  t.is((await containerd.pull({ image: `${registry.host}/fixture/app:v1`, hostsDir })).digest, image.manifestDigest)
  await t.throwsAsync(containerd.pull({ image: `${registry.host}/fixture/app:nope`, hostsDir }), { name: 'CtrError' })
  await containerd.stop()
  await t.throwsAsync(access(dirname(containerd.address)), { code: 'ENOENT' })
})
