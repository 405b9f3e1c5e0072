import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { deadRegistryHost, testAgentArgs } from './helpers/agent.ts'
import { spawnAgentProcess } from './helpers/agent-process.ts'
import { runShoal } from './helpers/shoal-process.ts'
import { tempDir } from './helpers/temp.ts'

test('shoal agent with a storage quota that cannot hold a piece exits 2 with a message naming the field', async t => {
  const dataDir = await tempDir(t, 'agent-command')
  const config = join(dataDir, 'agent.yaml')
  await writeFile(config, 'storageQuota: 12\n')
  const run = await runShoal(['agent', ...testAgentArgs(dataDir, [`http://${await deadRegistryHost()}`], ['--config', config])])
  t.is(run.code, 2, run.stderr)
  t.regex(run.stderr, /shoal agent: invalid configuration: .*agent\.yaml: storageQuota: 12 bytes cannot hold one piece/)
  t.notRegex(run.stdout, /mirroring/)
})

test('shoal agent with an implausibly small storage quota starts and tells the operator on stderr', async t => {
  const dataDir = await tempDir(t, 'agent-command')
  const agent = await spawnAgentProcess(t, { dataDir, upstreams: [`http://${await deadRegistryHost()}`], args: ['--storage-quota', '20MB'] })
  t.regex(agent.stderr(), /shoal agent: warning: --storage-quota: 19\.1 MiB holds only a few image layers/)
})
