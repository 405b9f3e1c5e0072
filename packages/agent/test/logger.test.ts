import test from 'ava'
import { createLogger } from '../src/logger.ts'

test('debug fields given as a function are made only when the line is written', t => {
  const lines: string[] = []
  let made = 0
  const fields = (): Record<string, unknown> => { made++; return { parents: ['a:1'] } }
  createLogger('shoal:test', { sink: line => { lines.push(line) } }).debug('parents', fields)
  t.is(made, 0, 'info level: not called')
  t.is(lines.length, 0)
  createLogger('shoal:test', { level: 'debug', sink: line => { lines.push(line) } }).debug('parents', fields)
  t.is(made, 1)
  t.like(JSON.parse(lines[0] ?? '{}'), { level: 'debug', component: 'shoal:test', msg: 'parents', parents: ['a:1'] })
})
