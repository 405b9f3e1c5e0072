import test from 'ava'
import { libp2pLogger } from '../src/quiet-logger.ts'

test('with no DEBUG, libp2p gets one logger that prints nothing for every component and scope; with DEBUG, its own', t => {
  const quiet = libp2pLogger({})
  if (quiet == null) return t.fail('a logger was expected without DEBUG')
  const log = quiet.forComponent('libp2p:yamux')
  t.false(log.enabled)
  t.is(log.newScope('stream:1'), log, 'a new scope makes no new logger')
  t.is(quiet.forComponent('libp2p:kad-dht'), log)
  t.notThrows(() => { log('a %s', 'message'); log.error(new Error('x')); log.trace('t') })
  t.is(libp2pLogger({ DEBUG: 'libp2p:*' }), undefined, 'DEBUG set: libp2p keeps its default, so its debug output still works')
  t.not(libp2pLogger({ DEBUG: '' }), undefined)
})
