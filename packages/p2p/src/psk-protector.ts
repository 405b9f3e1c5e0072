/**
 * The agent's private-network protector: what @libp2p/pnet does (only hosts with the swarm key
 * can talk; every byte under Noise is XORed with a keystream from the key), with Node's native
 * ChaCha20 instead of pnet's XSalsa20 in WASM. pnet halved the link's throughput (≈ 160 vs
 * ≈ 320 MB/s, docs/dev/libp2p3.md); here one native cipher per direction runs for the life of the
 * connection, with no per-message set-up.
 *
 * Wire format (not pnet's: agents only talk to agents): each side first sends 32 random bytes;
 * each direction's key is HMAC-SHA256(psk, label || dialer nonce || listener nonce), the label
 * naming the sending side, and its keystream is ChaCha20 from block 0 with a zero nonce. Fresh
 * random nonces give fresh keys, so no keystream is ever reused. Like pnet, this gives no
 * integrity and no identity: Noise above it does.
 */
import { createCipheriv, createHmac, randomBytes } from 'node:crypto'
import type { Cipheriv } from 'node:crypto'
import { InvalidParametersError } from '@libp2p/interface'
import type { AbortOptions, ConnectionProtector, MessageStream, MultiaddrConnection } from '@libp2p/interface'
import { AbstractMultiaddrConnection, byteStream } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { P2P_PSK_HANDSHAKE_TIMEOUT_MS } from './constants.ts'

const NONCE_BYTES = 32
const KEY_BYTES = 32
/** OpenSSL's chacha20 IV: a 32-bit block counter, then a 96-bit nonce; all zero (each key is used once). */
const ZERO_IV = Buffer.alloc(16)
/** A Uint8ArrayList, as the streams hand it over (its package is not a dependency of ours). */
type ByteList = Iterable<Uint8Array> & { byteLength: number }

const DIALER_LABEL = 'shoal-psk/1 dialer'
const LISTENER_LABEL = 'shoal-psk/1 listener'

export interface PskProtectorInit {
  /** The 32 key bytes of the swarm key (swarm-key.ts: `swarmKeyBytes`). */
  psk: Uint8Array
  /** How long the nonce exchange may take when the caller gives no signal. */
  timeoutMs?: number
}

function keystream (psk: Uint8Array, label: string, dialerNonce: Uint8Array, listenerNonce: Uint8Array): Cipheriv {
  const key = createHmac('sha256', psk).update(label).update(dialerNonce).update(listenerNonce).digest()
  return createCipheriv('chacha20', key, ZERO_IV)
}

class PskProtector implements ConnectionProtector {
  readonly #psk: Uint8Array
  readonly #timeoutMs: number

  constructor (init: PskProtectorInit) {
    if (init.psk.byteLength !== KEY_BYTES) throw new InvalidParametersError(`the swarm key must have ${KEY_BYTES} bytes`)
    this.#psk = init.psk
    this.#timeoutMs = init.timeoutMs ?? P2P_PSK_HANDSHAKE_TIMEOUT_MS
  }

  readonly [Symbol.toStringTag] = 'shoal:psk-protector'

  async protect (connection: MessageStream, options: AbortOptions = {}): Promise<MessageStream> {
    const signal = options.signal ?? AbortSignal.timeout(this.#timeoutMs)
    const localNonce = randomBytes(NONCE_BYTES)
    const bytes = byteStream(connection)
    const [remote] = await Promise.all([bytes.read({ bytes: NONCE_BYTES, signal }), bytes.write(localNonce, { signal })])
    const remoteNonce = remote.subarray()
    const dialer = connection.direction === 'outbound'
    const [dialerNonce, listenerNonce] = dialer ? [localNonce, remoteNonce] : [remoteNonce, localNonce]
    return new XorStream(bytes.unwrap() as MultiaddrConnection, {
      outbound: keystream(this.#psk, dialer ? DIALER_LABEL : LISTENER_LABEL, dialerNonce, listenerNonce),
      inbound: keystream(this.#psk, dialer ? LISTENER_LABEL : DIALER_LABEL, dialerNonce, listenerNonce)
    })
  }
}

/** The connection below, with every byte in both directions XORed with its direction's keystream. */
class XorStream extends AbstractMultiaddrConnection {
  readonly #inner: MultiaddrConnection
  readonly #outbound: Cipheriv

  constructor (inner: MultiaddrConnection, ciphers: { outbound: Cipheriv, inbound: Cipheriv }) {
    super({ log: inner.log.newScope('psk'), remoteAddr: inner.remoteAddr, direction: inner.direction })
    this.#inner = inner
    this.#outbound = ciphers.outbound
    const inbound = ciphers.inbound
    inner.addEventListener('message', evt => { this.onData(xor(inbound, evt.data)) })
    inner.addEventListener('drain', () => { this.onMuxerDrain() })
    inner.addEventListener('close', evt => {
      if (evt.error == null) this.onTransportClosed()
      else if (evt.local === true) this.abort(evt.error)
      else this.onRemoteReset()
    })
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    await this.#inner.close(options)
  }

  sendData (data: ByteList): { sentBytes: number, canSendMore: boolean } {
    return { sentBytes: data.byteLength, canSendMore: this.#inner.send(xor(this.#outbound, data)) }
  }

  sendReset (err: Error): void {
    this.#inner.abort(err)
  }

  sendPause (): void {
    this.#inner.pause()
  }

  sendResume (): void {
    this.#inner.resume()
  }
}

/** The data XORed, as the list of what the cipher gave: no copy into one buffer (see noise-crypto.ts on why). */
function xor (cipher: Cipheriv, data: Uint8Array | ByteList): Uint8Array | Uint8ArrayList {
  if (data instanceof Uint8Array) return cipher.update(data)
  const out = new Uint8ArrayList()
  for (const chunk of data) out.append(cipher.update(chunk))
  return out
}

/** A libp2p connection protector for the swarm key (`connectionProtector: pskProtector({ psk })`). */
export function pskProtector (init: PskProtectorInit): () => ConnectionProtector {
  return () => new PskProtector(init)
}
