import type { AddressInfo, Server } from 'node:net'
import type { HostPort } from './config/index.ts'

/** Starts `server` listening on `listen`; resolves with the address it got (port 0 resolved), rejects with the listen error. */
export async function listenOn (server: Server, listen: HostPort): Promise<HostPort> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  return { host: address.address, port: address.port }
}
