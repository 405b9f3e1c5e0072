import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { loadOrCreatePeerKey } from '@shoal/p2p'
import { peerIdText } from '@shoal/proto'

/**
 * An agent's peer id made ahead, in its data dir (`peer.key`, as `shoal agent` makes it at its
 * first start), for a member list written before the agents start. An Ed25519 peer id is the
 * identity multihash of the public key.
 */
export async function agentPeerId (dataDir: string): Promise<string> {
  const key = publicKeyToProtobuf((await loadOrCreatePeerKey(dataDir)).publicKey)
  return peerIdText(Uint8Array.of(0x00, key.byteLength, ...key))
}
