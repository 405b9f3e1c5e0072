import test from 'ava'
import { parseAgentUrl, parseSchedulerAddress } from '../src/prefetch/scheduler-address.ts'

const usage = { name: 'PrefetchUsageError' }

test('the scheduler admin address in its three forms becomes one base URL', t => {
  const cases: Array<[string, string]> = [
    ['http://10.0.0.5:65004', 'http://10.0.0.5:65004'],
    ['http://sched.example:65004/', 'http://sched.example:65004'],
    ['https://sched.example', 'https://sched.example'],
    ['10.0.0.5:65004', 'http://10.0.0.5:65004'],
    ['Sched.Example:65004', 'http://sched.example:65004'],
    ['[::1]:65004', 'http://[::1]:65004'],
    ['/ip4/10.0.0.5/tcp/65004', 'http://10.0.0.5:65004'],
    ['/ip4/10.0.0.5/tcp/443/https', 'https://10.0.0.5'],
    ['/ip6/::1/tcp/65004', 'http://[::1]:65004'],
    ['/ip6/fe80:0:0:0:0:0:0:1/tcp/65004/http', 'http://[fe80::1]:65004'],
    ['/dns4/sched.example/tcp/65004', 'http://sched.example:65004'],
    ['/dns6/sched.example/tcp/65004', 'http://sched.example:65004'],
    ['/dns/sched.example/tcp/65004', 'http://sched.example:65004']
  ]
  for (const [text, url] of cases) t.is(parseSchedulerAddress('--scheduler', text), url, text)
})

test('addresses that are not the admin API are refused, naming the flag', t => {
  const bad = [
    '10.0.0.5', 'http://10.0.0.5:65004/jobs', 'ftp://10.0.0.5:21', 'http://u:p@10.0.0.5:1', '10.0.0.5:0', '10.0.0.5:70000',
    '/ip4/10.0.0.5/udp/65004', '/ip4/10.0.0.5', '/ip4/300.0.0.1/tcp/1', '/ip6/10.0.0.5/tcp/1', '/unix/tmp/x', '/ip4/10.0.0.5/tcp/65004/ws'
  ]
  for (const text of bad) t.true(t.throws(() => parseSchedulerAddress('--scheduler', text), usage)?.message.startsWith('--scheduler: '), text)
  // the libp2p address agents are given is not it, and the error says so
  t.regex(t.throws(() => parseSchedulerAddress('SHOAL_PREFETCH_SCHEDULER', '/ip4/10.0.0.5/tcp/65003/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'), usage)?.message ?? '', /^SHOAL_PREFETCH_SCHEDULER: .*libp2p address/)
})

test('the agent URL: http(s) origin; HOST:PORT means http', t => {
  t.is(parseAgentUrl('--agent', 'http://127.0.0.1:65001'), 'http://127.0.0.1:65001')
  t.is(parseAgentUrl('--agent', '127.0.0.1:65001'), 'http://127.0.0.1:65001')
  t.is(parseAgentUrl('--agent', 'https://node-3.example/'), 'https://node-3.example')
  for (const bad of ['http://127.0.0.1:65001/v2/', 'ftp://x', 'http://', '127.0.0.1:99999']) t.throws(() => parseAgentUrl('--agent', bad), usage)
})
