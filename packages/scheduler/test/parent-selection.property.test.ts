import assert from 'node:assert/strict'
import test from 'ava'
import fc from 'fast-check'
import { compareChoices, localityOf, selectParents, TaskAvailability } from '../src/index.ts'
import type { ParentChoice, ParentState, PeerKey } from '../src/index.ts'
import { bits, PIECE, peer, taskDigest } from './helpers.ts'

const PIECES = 16

const candidateArb = fc.record({
  site: fc.constantFrom(undefined, 'rack-1', 'rack-2'),
  zone: fc.constantFrom(undefined, 'zone-a', 'zone-b'),
  uploadSlots: fc.nat({ max: 4 }),
  uploads: fc.nat({ max: 5 }),
  recentFailures: fc.nat({ max: 3 }),
  ejected: fc.boolean(),
  held: fc.uniqueArray(fc.nat({ max: PIECES - 1 }), { maxLength: PIECES }),
  known: fc.boolean() // known to the view (registered)
}, { requiredKeys: ['uploadSlots', 'uploads', 'recentFailures', 'ejected', 'held', 'known'] })

const scenarioArb = fc.record({
  child: candidateArb, // the child is in the task too, and in the view, with any state
  parents: fc.array(candidateArb, { maxLength: 14 }),
  wanted: fc.integer({ min: -1, max: 8 }),
  order: fc.nat() // rotates the order in which peers join the task
})

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never

function run (scenario: Scenario, rotate: boolean): { choices: ParentChoice[], states: Map<PeerKey, ParentState & { held: number[], known: boolean }> } {
  const availability = new TaskAvailability({ digest: taskDigest(1), size: PIECES * PIECE })
  const candidates = new Map<PeerKey, ParentState>()
  const states = new Map<PeerKey, ParentState & { held: number[], known: boolean }>()
  const all = [scenario.child, ...scenario.parents].map((c, n) => {
    const info = peer(n, { uploadSlots: c.uploadSlots, ...(c.site == null ? {} : { site: c.site }), ...(c.zone == null ? {} : { zone: c.zone }) })
    return { info, c }
  })
  const shift = rotate ? scenario.order % all.length : 0
  for (const { info, c } of [...all.slice(shift), ...all.slice(0, shift)]) {
    availability.setBitfield(info.id, bits(PIECES, c.held))
    const state = { info, uploads: c.uploads, recentFailures: c.recentFailures, ejected: c.ejected }
    const known = c.known || info.id === all[0]!.info.id
    if (known) candidates.set(info.id, state)
    states.set(info.id, { ...state, held: c.held, known })
  }
  const child = all[0]!.info
  const choices = selectParents({ child: { info: child, bitfield: bits(PIECES, scenario.child.held) }, availability, candidates, wanted: scenario.wanted })
  return { choices, states }
}

test('selectParents never returns the child, an ejected, full or unknown parent, or one with nothing useful; it returns the best `wanted` in order', t => {
  fc.assert(fc.property(scenarioArb, scenario => {
    const { choices, states } = run(scenario, false)
    const child = peer(0, {}).id
    const childHeld = new Set(scenario.child.held)
    const eligible: ParentChoice[] = []
    for (const [id, state] of states) {
      const useful = state.held.filter(i => !childHeld.has(i)).length
      if (id === child || !state.known || state.ejected || state.uploads >= state.info.uploadSlots || useful === 0) continue
      eligible.push({
        id,
        locality: localityOf(states.get(child)!.info, state.info),
        usefulPieces: useful,
        heldPieces: new Set(state.held).size,
        score: useful / (PIECES - childHeld.size) * (state.info.uploadSlots - state.uploads) / state.info.uploadSlots / (1 + state.recentFailures)
      })
    }
    eligible.sort(compareChoices)
    for (const choice of choices) {
      const state = states.get(choice.id)!
      assert.notEqual(choice.id, child)
      assert.equal(state.ejected, false)
      assert.ok(state.uploads < state.info.uploadSlots)
      assert.ok(choice.usefulPieces > 0)
    }
    assert.equal(new Set(choices.map(c => c.id)).size, choices.length)
    assert.deepEqual(choices.map(c => c.id), eligible.slice(0, Math.max(0, scenario.wanted)).map(c => c.id))
    assert.deepEqual(choices.map(c => c.heldPieces), eligible.slice(0, Math.max(0, scenario.wanted)).map(c => c.heldPieces))
    for (let i = 1; i < choices.length; i++) assert.ok(compareChoices(choices[i - 1]!, choices[i]!) < 0)
  }), { numRuns: 400 })
  t.pass()
})

test('selectParents does not depend on the order peers joined the task', t => {
  fc.assert(fc.property(scenarioArb, scenario => {
    assert.deepEqual(run(scenario, true).choices, run(scenario, false).choices)
  }), { numRuns: 200 })
  t.pass()
})
