import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import test from 'ava'
import { request } from 'undici'
import { layerFixture, pushImage, startRegistry } from './fixtures/index.ts'
import { startTestAgent } from './helpers/agent.ts'
import { startMirroredOrigin } from './helpers/mirrored-origin.ts'

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

async function setup (t: { teardown: (fn: () => Promise<void>) => void }, layerSize = 6 * 1024 * 1024 + 5) {
  const layer = layerFixture({ size: layerSize, seed: 42 })
  const { registry, origin, image, agent } = await startMirroredOrigin(t, { image: { name: 'lib/blob', tag: 'v1', format: 'oci', layers: [layer] } })
  const digest = image.layers[0]?.digest ?? ''
  return { registry, origin, agent, layer, digest, blobUrl: `${agent.url}/v2/lib/blob/blobs/${digest}` }
}

test('20 concurrent pulls of one cold blob make one upstream blob GET, and all get the right bytes', async t => {
  const { origin, layer, digest, blobUrl } = await setup(t)
  const bodies = await Promise.all(Array.from({ length: 20 }, async () => {
    const res = await request(blobUrl)
    t.is(res.statusCode, 200)
    t.is(res.headers['docker-content-digest'], digest)
    return Buffer.from(await res.body.arrayBuffer())
  }))
  for (const body of bodies) t.is(sha256(body), sha256(layer))
  t.is(origin.blobGets(digest), 1)
})

test('Range requests get 206 with Content-Range, during and after the download; bad ranges get 416', async t => {
  const { layer, blobUrl, origin, digest } = await setup(t)
  const size = layer.byteLength
  // During the first download (the resume a broken containerd pull does).
  const [full, tail] = await Promise.all([request(blobUrl), request(blobUrl, { headers: { range: 'bytes=1000-' } })])
  t.is(tail.statusCode, 206)
  t.is(tail.headers['content-range'], `bytes 1000-${size - 1}/${size}`)
  t.true(Buffer.from(await tail.body.arrayBuffer()).equals(layer.subarray(1000)))
  t.is(sha256(Buffer.from(await full.body.arrayBuffer())), sha256(layer))
  // From the store.
  for (const [header, start, end] of [['bytes=0-0', 0, 0], ['bytes=5-99', 5, 99], ['bytes=-10', size - 10, size - 1], [`bytes=${size - 3}-${size + 100}`, size - 3, size - 1]] as const) {
    const res = await request(blobUrl, { headers: { range: header } })
    t.is(res.statusCode, 206, header)
    t.is(res.headers['content-range'], `bytes ${start}-${end}/${size}`)
    t.true(Buffer.from(await res.body.arrayBuffer()).equals(layer.subarray(start, end + 1)), header)
  }
  for (const header of [`bytes=${size}-`, 'bytes=10-5', 'bytes=abc', 'items=0-1', 'bytes=0-1,5-6', 'bytes=-0']) {
    const res = await request(blobUrl, { headers: { range: header } })
    t.is(res.statusCode, 416, header)
    t.is(res.headers['content-range'], `bytes */${size}`)
    t.is((await res.body.json() as { errors: Array<{ code: string }> }).errors[0]?.code, 'RANGE_INVALID')
  }
  t.is(origin.blobGets(digest), 1)
})

test('HEAD of a blob answers size and digest, from the store or the origin, and bodies are never re-encoded', async t => {
  const { layer, blobUrl, digest } = await setup(t, 100_000)
  const cold = await request(blobUrl, { method: 'HEAD' })
  t.is(cold.statusCode, 200)
  t.is(cold.headers['content-length'], String(layer.byteLength))
  t.is(cold.headers['docker-content-digest'], digest)
  const res = await request(blobUrl, { headers: { 'accept-encoding': 'gzip, deflate, br' } })
  t.is(res.headers['content-encoding'], undefined)
  t.true(Buffer.from(await res.body.arrayBuffer()).equals(layer))
  const warm = await request(blobUrl, { method: 'HEAD' })
  t.is(warm.headers['content-length'], String(layer.byteLength))
  t.is(warm.headers['accept-ranges'], 'bytes')
})

test('?ns= or the path picks the upstream; an unknown or unnamed registry gets a 404 the runtime falls back on', async t => {
  const a = await startRegistry()
  t.teardown(a.stop)
  const b = await startRegistry()
  t.teardown(b.stop)
  const imageA = await pushImage(a, { name: 'app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 1000, seed: 1 })] })
  const imageB = await pushImage(b, { name: 'app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 2000, seed: 2 })] })
  const agent = await startTestAgent({ upstreams: [a.url, b.url] })
  t.teardown(agent.stop)
  const get = async (path: string) => request(`${agent.url}${path}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
  // Named by neither ?ns= nor path, the request could be for A or B: refused, never answered from A.
  const bare = await get('/v2/app/manifests/v1')
  t.is(bare.statusCode, 404)
  t.is((await bare.body.json() as { errors: Array<{ code: string }> }).errors[0]?.code, 'NAME_UNKNOWN')
  const viaPath = await get(`/v2/${a.host.replace(':', '_')}/app/manifests/v1`)
  t.is(viaPath.headers['docker-content-digest'], imageA.manifestDigest)
  await viaPath.body.dump()
  const viaNs = await get(`/v2/app/manifests/v1?ns=${b.host}`)
  t.is(viaNs.headers['docker-content-digest'], imageB.manifestDigest)
  t.deepEqual(Buffer.from(await viaNs.body.arrayBuffer()), imageB.manifest)
  const blob = await get(`/v2/app/blobs/${imageB.layers[0]?.digest ?? ''}?ns=${b.host}`)
  t.is(blob.statusCode, 200)
  await blob.body.dump()
  const unknown = await get('/v2/app/manifests/v1?ns=other.example:5000')
  t.is(unknown.statusCode, 404)
  t.is((await unknown.body.json() as { errors: Array<{ code: string }> }).errors[0]?.code, 'NAME_UNKNOWN')
})

test('malformed names, digests, methods and huge headers get 4xx OCI errors; a TLS hello gets an answer at once', async t => {
  const { agent, digest } = await setup(t, 1000)
  const cases: Array<[string, string, number, string | undefined]> = [
    ['GET', '/v2/UPPER/manifests/v1', 400, 'NAME_INVALID'],
    ['GET', '/v2/a..b/blobs/' + digest, 400, 'NAME_INVALID'],
    ['GET', '/v2/..%2F..%2Fetc/blobs/' + digest, 400, 'NAME_INVALID'],
    ['GET', `/v2/${'a/'.repeat(150)}x/manifests/v1`, 400, 'NAME_INVALID'],
    ['GET', '/v2/lib/blob/blobs/sha256:xyz', 400, 'DIGEST_INVALID'],
    ['GET', '/v2/lib/blob/blobs/md5:' + 'a'.repeat(32), 400, 'DIGEST_INVALID'],
    ['GET', '/v2/lib/blob/manifests/-bad-tag', 400, 'NAME_INVALID'],
    ['GET', '/v2/lib/blob/manifests/sha256:ABC', 400, 'DIGEST_INVALID'],
    ['PUT', '/v2/lib/blob/manifests/v1', 405, 'UNSUPPORTED'],
    ['DELETE', '/v2/lib/blob/blobs/' + digest, 405, 'UNSUPPORTED'],
    ['POST', '/v2/lib/blob/blobs/uploads/', 405, 'UNSUPPORTED'],
    ['GET', '/v2/lib/blob/blobs/uploads/abc', 405, 'UNSUPPORTED'],
    ['GET', '/nothing', 404, 'NAME_UNKNOWN']
  ]
  for (const [method, path, status, code] of cases) {
    const res = await request(`${agent.url}${path}`, { method: method as 'GET' })
    t.is(res.statusCode, status, `${method} ${path.slice(0, 60)}`)
    t.is((await res.body.json() as { errors: Array<{ code: string }> }).errors[0]?.code, code)
  }
  const huge = await request(`${agent.url}/v2/`, { headers: { 'x-junk': 'a'.repeat(64 * 1024) } })
  t.is(huge.statusCode, 431)
  await huge.body.dump()

  // What skopeo sends first to a plain-HTTP mirror: a TLS ClientHello.
  const started = Date.now()
  const reply = await new Promise<string>((resolve, reject) => {
    const socket = connect(agent.agent.address?.port ?? 0, '127.0.0.1', () => {
      socket.write(Buffer.from('16030100a5010000a10303', 'hex'))
      socket.write(Buffer.alloc(160, 1))
    })
    let got = ''
    socket.on('data', d => { got += d.toString('latin1') })
    socket.on('close', () => { resolve(got) })
    socket.on('error', reject)
    socket.setTimeout(5000, () => { socket.destroy(new Error('no answer within 5 s')) })
  })
  t.true(Date.now() - started < 4000)
  t.true(reply === '' || reply.startsWith('HTTP/1.1 400'), reply.slice(0, 40))
  // The agent still serves after all that.
  const ok = await request(`${agent.url}/v2/lib/blob/blobs/${digest}`)
  t.is(ok.statusCode, 200)
  await ok.body.dump()
})
