import test from 'ava'
import { LocalityGroups, NO_GROUP } from '../src/locality-groups.ts'
import type { GroupMember } from '../src/locality-groups.ts'
import type { PeerInfo } from '../src/types.ts'
import { peer } from './helpers.ts'

const a = peer(1, { site: 'rack-1', zone: 'zone-a' })
const b = peer(2, { site: 'rack-2', zone: 'zone-a' })
const c = peer(3, { zone: 'zone-b' })
const d = peer(4)

test('peers are grouped by site and zone, in the order they were added', t => {
  const groups = new LocalityGroups()
  for (const info of [b, a, c, d]) t.true(groups.add(info))
  t.deepEqual([...groups.all()], [b.id, a.id, c.id, d.id])
  t.deepEqual([...groups.site('rack-1')], [a.id])
  t.deepEqual([...groups.zone('zone-a')], [b.id, a.id])
  t.deepEqual([...groups.zone('zone-b')], [c.id])
  t.deepEqual([...groups.site('rack-9')], [])
  t.is(groups.size, 4)
  t.is(groups.info(c.id), c)
})

test('a peer added again keeps its place; a removed one leaves every group, and an emptied group goes', t => {
  const groups = new LocalityGroups()
  for (const info of [a, b]) groups.add(info)
  t.false(groups.add(a))
  t.deepEqual([...groups.zone('zone-a')], [a.id, b.id])
  t.true(groups.remove(a.id))
  t.false(groups.remove(a.id))
  t.deepEqual([...groups.all()], [b.id])
  t.deepEqual([...groups.site('rack-1')], [])
  t.deepEqual([...groups.zone('zone-a')], [b.id])
  t.is(groups.info(a.id), undefined)
  groups.add(a)
  t.deepEqual([...groups.zone('zone-a')], [b.id, a.id], 'back at the end, as in the task\'s availability')
})

test('of() groups the peers an info is known for and leaves the others out', t => {
  const infos = new Map([a, b, c].map(info => [info.id, info]))
  const groups = LocalityGroups.of([a.id, d.id, c.id, b.id], id => infos.get(id))
  t.deepEqual([...groups.all()], [a.id, c.id, b.id])
})

test('every peer in the groups has a slot of its own below slotCount; a freed slot goes to the next peer', t => {
  const groups = new LocalityGroups()
  const infos = Array.from({ length: 12 }, (_, n) => peer(10 + n, { site: `rack-${n % 3}`, zone: `zone-${n % 2}` }))
  const slots = (): Map<string, number> => new Map([...groups.allMembers()].map(m => [m.id, m.slot]))
  for (const info of infos) groups.add(info)
  for (const n of [2, 5, 7]) groups.remove(infos[n]!.id)
  groups.add(peer(40, { site: 'rack-0' }))
  groups.add(infos[5]!)
  const now = slots()
  t.is(new Set(now.values()).size, now.size, 'no two peers share a slot')
  t.true([...now.values()].every(slot => slot >= 0 && slot < groups.slotCount))
  t.is(groups.slotCount, 12, 'two of the three freed slots were given again, none past the twelve made')
  // The member lists name the same peers, with the same slots, as the keys.
  t.deepEqual([...groups.siteMembers('rack-0')].map(m => m.id), [...groups.site('rack-0')])
  t.deepEqual([...groups.zoneMembers('zone-1')].map(m => [m.id, m.slot]), [...groups.zone('zone-1')].map(id => [id, now.get(id)]))
})

test('members of one site or zone share its group number; a label nobody has, or none, is NO_GROUP', t => {
  const groups = new LocalityGroups()
  const e = peer(5, { site: 'rack-1', zone: 'zone-b' })
  for (const info of [a, b, c, d, e]) groups.add(info)
  const member = (info: PeerInfo): GroupMember => [...groups.allMembers()].find(m => m.id === info.id)!
  t.is(member(e).siteGroup, member(a).siteGroup, 'rack-1')
  t.not(member(b).siteGroup, member(a).siteGroup)
  t.is(member(b).zoneGroup, member(a).zoneGroup, 'zone-a')
  t.not(member(e).zoneGroup, member(a).zoneGroup)
  t.is(member(c).siteGroup, NO_GROUP)
  t.is(member(d).zoneGroup, NO_GROUP)
  t.deepEqual(groups.groupsOf(peer(6, { site: 'rack-1', zone: 'zone-a' })), { siteGroup: member(a).siteGroup, zoneGroup: member(a).zoneGroup })
  t.deepEqual(groups.groupsOf(peer(7, { site: 'rack-9' })), { siteGroup: NO_GROUP, zoneGroup: NO_GROUP })
  // A group emptied and made again has a new number: a member of the old one is never taken for one of the new.
  const before = member(b).siteGroup
  groups.remove(b.id)
  groups.add(b)
  t.not(member(b).siteGroup, before)
  t.not(member(b).siteGroup, member(a).siteGroup)
})
