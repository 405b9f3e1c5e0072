import test from 'ava'
import { decodeSchedulerMessage, SchedulerMessage } from '@shoal/proto'
import { encodeSchedulerMessage } from '../src/frames.ts'

test('a message is encoded as SchedulerMessage.encode does, once however often it is sent', t => {
  const message = { registered: { reportIntervalMs: 100 } } as SchedulerMessage
  const frame = encodeSchedulerMessage(message)
  t.deepEqual(frame, SchedulerMessage.encode(message))
  t.is(encodeSchedulerMessage(message), frame, 'the same frame for the same message')
  t.is(decodeSchedulerMessage(frame).kind, 'registered')
  const other = { registered: { reportIntervalMs: 200 } } as SchedulerMessage
  t.not(encodeSchedulerMessage(other), frame, 'another message, another frame')
})
