import { SchedulerMessage, varintLength } from '@shoal/proto'
import type { Parent } from '@shoal/proto'

/**
 * A message's frame, kept on the message object itself: a round makes thousands of messages, and
 * WeakMap entries (ephemerons) for each made every young-generation collection of the scheduler
 * longer, and those pauses are its decisions' p99 (`bench scheduler`).
 */
const FRAME = Symbol('frame')
type Framed = SchedulerMessage & { [FRAME]?: Uint8Array }

/** Protobuf field keys (field number << 3 | wire type 2, length-delimited). */
const SCHEDULER_MESSAGE_PARENTS = 0x12
const PARENTS_DIGEST = 0x0a
const PARENTS_PARENT = 0x12
const PARENT_PEER_ID = 0x0a
const PARENT_ADDRESS = 0x12
const PARENT_BITFIELD = 0x1a

/**
 * The wire frame of a message to an agent, encoded once however many agents it goes to: a round
 * sends the same PieceTable message to every downloader of a task whose table grew (thousands
 * of them in a rollout). The frame is kept as long as the message object lives; a message must
 * not be changed once it was sent (the service makes a new one for every change).
 */
export function encodeSchedulerMessage (message: SchedulerMessage): Uint8Array {
  const framed = message as Framed
  return framed[FRAME] ??= SchedulerMessage.encode(message)
}

/** A parent entry and its field in a Parents message (tag, length, body): made once per entry, however many messages name it. */
export interface ParentEntry {
  readonly parent: Parent
  readonly field: Uint8Array
}

/**
 * A parent's entry. `identityFields` are parentIdentityFields(parent), which a caller that names the
 * same agent in many entries (every round, every task) makes once; the entry then costs one buffer.
 */
export function parentEntry (parent: Parent, identityFields: Uint8Array = parentIdentityFields(parent)): ParentEntry {
  return { parent, field: parentField(identityFields, parent.bitfield) }
}

/** The fields of a Parent that name the agent (its peer id, then its addresses), encoded. */
export function parentIdentityFields (parent: Pick<Parent, 'peerId' | 'addresses'>): Uint8Array<ArrayBuffer> {
  const hasId = parent.peerId != null && parent.peerId.byteLength > 0
  let length = hasId ? fieldLength(parent.peerId.length) : 0
  for (const address of parent.addresses ?? []) length += fieldLength(address.length)
  const out = new Uint8Array(length)
  let at = hasId ? writeField(out, 0, PARENT_PEER_ID, parent.peerId) : 0
  for (const address of parent.addresses ?? []) at = writeField(out, at, PARENT_ADDRESS, address)
  return out
}

/**
 * A Parents message, its frame made at once from frames of its entries: a round names the same
 * parents to many children, and each entry (peer id, addresses, bitfield) is encoded once
 * (parentEntry), not once per message. The frame is the bytes SchedulerMessage.encode gives (proto3:
 * empty fields left out; one oneof field), and encodeSchedulerMessage returns it. Entries must not
 * be changed once named. Cost: O(entry bytes) per new entry, then O(message bytes) per message.
 */
export function parentsMessage (digest: string, entries: readonly ParentEntry[]): SchedulerMessage {
  const message: Framed = { parents: { digest, parents: entries.map(e => e.parent) } } as unknown as SchedulerMessage
  const digestBytes = digestField(digest)
  let body = digestBytes.length
  for (const entry of entries) body += entry.field.length
  const frame = new Uint8Array(1 + varintLength(body) + body)
  let at = 0
  frame[at++] = SCHEDULER_MESSAGE_PARENTS
  at = writeVarint(frame, at, body)
  frame.set(digestBytes, at)
  at += digestBytes.length
  for (const { field } of entries) {
    frame.set(field, at)
    at += field.length
  }
  message[FRAME] = frame
  return message
}

const utf8 = new TextEncoder()
let lastDigest: { digest: string, field: Uint8Array } | undefined

/** The digest's field (none when empty); the last one is kept, since a round sends one task's messages together. */
function digestField (digest: string): Uint8Array {
  if (lastDigest?.digest !== digest) lastDigest = { digest, field: digest === '' ? new Uint8Array(0) : bytesField(PARENTS_DIGEST, utf8.encode(digest)) }
  return lastDigest.field
}

/** One Parent as a field of Parents (key, length, then its own fields), written into one buffer. */
function parentField (identityFields: Uint8Array, bitfield: Uint8Array | undefined): Uint8Array<ArrayBuffer> {
  const hasBits = bitfield != null && bitfield.byteLength > 0
  const body = identityFields.length + (hasBits ? fieldLength(bitfield.length) : 0)
  const out = new Uint8Array(fieldLength(body))
  out[0] = PARENTS_PARENT
  const start = writeVarint(out, 1, body)
  out.set(identityFields, start)
  if (hasBits) writeField(out, start + identityFields.length, PARENT_BITFIELD, bitfield)
  return out
}

function bytesField (key: number, value: Uint8Array): Uint8Array {
  const field = new Uint8Array(fieldLength(value.length))
  writeField(field, 0, key, value)
  return field
}

/** The bytes of a length-delimited field with a one-byte key and a value of `length` bytes. */
function fieldLength (length: number): number {
  return 1 + varintLength(length) + length
}

/** Writes a length-delimited field at `at`; returns the index after it. */
function writeField (out: Uint8Array, at: number, key: number, value: Uint8Array): number {
  out[at] = key
  const start = writeVarint(out, at + 1, value.length)
  out.set(value, start)
  return start + value.length
}

/** Writes `value` as a base-128 varint at `at`; returns the index after it. */
function writeVarint (out: Uint8Array, at: number, value: number): number {
  let v = value
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80
    v = Math.floor(v / 0x80)
  }
  out[at++] = v
  return at
}
