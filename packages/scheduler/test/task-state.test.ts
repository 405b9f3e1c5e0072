import test from 'ava'
import { TaskState } from '../src/task-state.ts'
import { PIECE, peerKey, taskDigest } from './helpers.ts'

test('uploads count how many downloaders each parent was handed to, as lists change and downloaders go', t => {
  const task = new TaskState(taskDigest(1), 4 * PIECE)
  const [p, q, r, c1, c2] = [1, 2, 3, 4, 5].map(peerKey)
  task.setParents(c1!, [p!, q!])
  task.setParents(c2!, [p!])
  t.deepEqual([...task.uploads].sort(), [[p, 2], [q, 1]].sort())
  task.setParents(c1!, [r!])
  t.deepEqual([...task.uploads].sort(), [[p, 1], [r, 1]].sort(), 'the old list no longer counts; a parent with none is dropped')
  task.forget(c2!)
  t.deepEqual([...task.uploads], [[r, 1]])
  t.deepEqual([...task.parentsOf.keys()], [c1])
})
