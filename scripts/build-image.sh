#!/usr/bin/env bash
# Builds the shoal container image as an OCI archive (default dist/shoal.oci.tar, ref shoal:<version>)
# without a base image from any registry: a Debian root filesystem made from Debian packages by
# mmdebstrap (extract variant: libc6, libgcc-s1, libstdc++6, tini; no shell, no package manager),
# the Node 24 binary this checkout installed, and shoal with its production dependencies.
# Layers are made with GNU tar and stacked with umoci; same inputs, same image digest.
#
#   scripts/build-image.sh [--out FILE]
#
# Needs mmdebstrap, umoci, GNU tar and dpkg-deb (Debian packages), network access to the Debian
# mirror for the first build, and `pnpm install` done. The root filesystem is cached under
# node_modules/.cache/shoal-image/, keyed by its package list, suite and hooks, and made again after
# a week (Debian security updates) or when SHOAL_IMAGE_REFRESH=1. SHOAL_IMAGE_MIRROR and
# SHOAL_IMAGE_SECURITY_MIRROR name other Debian mirrors.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/dist/shoal.oci.tar
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$(realpath -m "$2"); shift 2 ;;
    *) echo "usage: $0 [--out FILE]" >&2; exit 2 ;;
  esac
done

missing=()
for tool in mmdebstrap umoci dpkg-deb; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-image: missing ${missing[*]}: install the Debian packages mmdebstrap and umoci" >&2
  exit 1
fi
node=$(readlink -f "$root/node_modules/.bin/node" 2>/dev/null || true)
if [ ! -x "$node" ]; then
  echo "build-image: no Node binary at node_modules/.bin/node: run pnpm install first" >&2
  exit 1
fi

json_field() { "$node" -e 'const v = require(process.argv[1])[process.argv[2]]; if (v == null) process.exit(1); console.log(v)' "$1" "$2"; }
version=$(json_field "$root/packages/cli/package.json" version)
pnpm_version=$(json_field "$root/package.json" packageManager); pnpm_version=${pnpm_version#pnpm@}
node_version=$("$node" --version)
ref="shoal:$version"

# Timestamps: the commit's time for what shoal adds, a fixed one for the cached Debian layer (so the
# cache outlives commits). SOURCE_DATE_EPOCH from the environment wins for both.
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 1767225600)}
rootfs_epoch=${SOURCE_DATE_EPOCH:-1767225600}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || true)
source_url=${SHOAL_IMAGE_SOURCE:-$(git -C "$root" remote get-url origin 2>/dev/null || true)}

cache=$root/node_modules/.cache/shoal-image
mkdir -p "$cache" "$(dirname "$out")"
work=$(mktemp -d "$cache/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$SECONDS
step() { echo "build-image: $* ($((SECONDS - started)) s)"; }

# --- Layer 1: the Debian root filesystem (cached) -------------------------------------------
suite=bookworm
packages=libc6,libgcc-s1,libstdc++6,tini
# The image's users, name resolution for the runtime's /etc/hosts and DNS, the mount points, the
# data dir the non-root user owns, and a dpkg status so scanners see which Debian packages are in
# (the extract variant unpacks .debs without dpkg). Build-host files and apt's state are dropped.
extract_hook='set -e
r=$1
printf "root:x:0:0:root:/root:/usr/sbin/nologin\nshoal:x:65532:65532:shoal:/var/lib/shoal:/usr/sbin/nologin\n" > "$r/etc/passwd"
printf "root:x:0:\nshoal:x:65532:\n" > "$r/etc/group"
printf "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" > "$r/etc/hosts"
printf "passwd: files\ngroup: files\nhosts: files dns\n" > "$r/etc/nsswitch.conf"
mkdir -p "$r/proc" "$r/sys" "$r/root" "$r/var/lib/shoal"
chmod 0700 "$r/root" "$r/var/lib/shoal"
chown 65532:65532 "$r/var/lib/shoal"
for deb in "$r"/var/cache/apt/archives/*.deb; do
  dpkg-deb -f "$deb" | sed "1a Status: install ok installed"
  echo
done > "$r/var/lib/dpkg/status"
rm -f "$r/etc/resolv.conf" "$r/etc/hostname" "$r/etc/fstab" "$r/etc/apt/sources.list" "$r/etc/dpkg/dpkg.cfg.d/99mmdebstrap"'
mirror=${SHOAL_IMAGE_MIRROR:-http://deb.debian.org/debian}
security_mirror=${SHOAL_IMAGE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
mmdebstrap_args=(
  --variant=extract --include="$packages" --skip=output/dev
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/gcc/*' --dpkgopt='path-exclude=/usr/share/gdb/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*' --dpkgopt='path-exclude=/usr/bin/tini-static'
  --extract-hook="$extract_hook"
  "$suite" - "deb $mirror $suite main" "deb $mirror $suite-updates main" "deb $security_mirror $suite-security main"
)
key=$(printf '%s\n' "$rootfs_epoch" "${mmdebstrap_args[@]}" | sha256sum | cut -c1-16)
rootfs=$cache/rootfs-$suite-$key.tar
if [ "${SHOAL_IMAGE_REFRESH:-}" = 1 ] || [ -z "$(find "$rootfs" -mtime -7 2>/dev/null)" ]; then
  step "mmdebstrap $suite ($packages)"
  SOURCE_DATE_EPOCH=$rootfs_epoch mmdebstrap --quiet "${mmdebstrap_args[@]}" > "$work/rootfs.tar"
  mv "$work/rootfs.tar" "$rootfs"
else
  step "Debian root filesystem from the cache: $rootfs"
fi

# Every tar of ours: sorted, one fixed time, root-owned, no per-build headers.
det_tar() { tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=gnu "$@"; }

# --- Layer 2: Node ----------------------------------------------------------------------
mkdir -p "$work/node/usr/local/bin"
det_tar -cf "$work/node.tar" -C "$work/node" usr -C "$(dirname "$node")" --transform='s|^node$|usr/local/bin/node|' node

# --- Layer 3: shoal and its production dependencies -------------------------------------
# A copy of the workspace (manifests, lockfile, sources) with only @shoal/cli's production
# dependency tree installed. Not `pnpm deploy`: it puts the workspace packages under node_modules,
# where Node refuses to strip TypeScript types.
layer=$work/app
app=$layer/app
mkdir -p "$app" "$layer/dev" "$layer/usr/local/bin"
cp "$root/package.json" "$root/pnpm-lock.yaml" "$root/pnpm-workspace.yaml" "$app/"
cp -r "$root/patches" "$app/"
for dir in "$root"/packages/* "$root/bench" "$root/test"; do
  name=${dir#"$root"/}
  mkdir -p "$app/$name"
  cp "$dir/package.json" "$app/$name/"
  [ -d "$dir/src" ] && [[ $name == packages/* ]] && cp -r "$dir/src" "$app/$name/"
  [ -d "$dir/bin" ] && [[ $name == packages/* ]] && cp -r "$dir/bin" "$app/$name/"
done
step "pnpm install --prod (@shoal/cli and its dependencies)"
(cd "$app" && PATH="$(dirname "$node"):$PATH" npx -y "pnpm@$pnpm_version" install --prod --frozen-lockfile --offline \
  --filter '@shoal/cli...' --config.confirmModulesPurge=false --reporter=silent)
# Only the packages the shoal command runs; what pnpm needed to resolve the workspace goes.
for dir in "$app"/packages/* "$app/bench" "$app/test"; do [ -d "$dir/node_modules" ] || rm -rf "$dir"; done
# Types, source maps and docs are never read at run time; prebuilt bindings for other systems
# neither. The .bin shims (shell scripts, and no shell in the image) and pnpm's state file name
# this build's paths and times.
rm -f "$app/node_modules/.modules.yaml" "$app/node_modules/.pnpm-workspace-state"*.json
find "$app" -type d -name .bin -path '*/node_modules/.bin' -prune -exec rm -rf {} +
find "$app/node_modules/.pnpm" \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' -o -name '*.tsbuildinfo' \) -type f -delete
find "$app/node_modules/.pnpm" -type d -path '*/prebuilds/*' -prune ! -name linux-x64 -exec rm -rf {} +
find "$app/node_modules/.pnpm" -type d -regextype posix-extended \
  -regex '.*/node_modules/(@[^/]+/)?[^/@][^/]*/(test|tests|bench|benchmark)' -prune -exec rm -rf {} +
printf '#!/usr/local/bin/node\n// The shoal command: its launcher turns on the compile cache, then runs the TypeScript entry as is.\nimport("/app/packages/cli/bin/shoal.js")\n' > "$layer/usr/local/bin/shoal"
chmod 0755 "$layer/usr/local/bin/shoal"
det_tar -cf "$work/app.tar" -C "$layer" --mode=go-w dev usr app

# --- Assemble -----------------------------------------------------------------------------
step "umoci: layers and config"
oci=$work/oci
image=$oci:$ref
hist=(--history.created "$created")
umoci init --layout "$oci"
umoci new --image "$image"
umoci raw add-layer --image "$image" --history.created "$(date -u -d "@$rootfs_epoch" +%Y-%m-%dT%H:%M:%SZ)" \
  --history.created_by "mmdebstrap --variant=extract $suite: $packages" "$rootfs"
umoci raw add-layer --image "$image" "${hist[@]}" --history.created_by "node $node_version" "$work/node.tar"
umoci raw add-layer --image "$image" "${hist[@]}" --history.created_by "shoal $version: /app, /usr/local/bin/shoal" "$work/app.tar"
labels=(
  --config.label org.opencontainers.image.title=shoal
  --config.label "org.opencontainers.image.description=Peer-to-peer distribution of container image layers: a registry mirror on every host"
  --config.label "org.opencontainers.image.version=$version"
  --config.label "org.opencontainers.image.created=$created"
)
[ -n "$revision" ] && labels+=(--config.label "org.opencontainers.image.revision=$revision")
[ -n "$source_url" ] && labels+=(--config.label "org.opencontainers.image.source=$source_url")
umoci config --image "$image" --created "$created" "${hist[@]}" --history.created_by "shoal $version: image config" \
  --os linux --architecture amd64 \
  --config.user 65532:65532 --config.workingdir /var/lib/shoal \
  --config.env PATH=/usr/local/bin:/usr/bin:/bin --config.env HOME=/var/lib/shoal --config.env NODE_ENV=production \
  --config.env NODE_COMPILE_CACHE=/var/lib/shoal/.cache/node-compile \
  --config.env SHOAL_DATA_DIR=/var/lib/shoal/agent --config.env SHOAL_SCHEDULER_DATA_DIR=/var/lib/shoal/scheduler \
  --config.entrypoint /usr/bin/tini --config.entrypoint -- --config.entrypoint /usr/local/bin/shoal \
  --config.cmd agent \
  --config.exposedports 65001/tcp --config.exposedports 65002/tcp --config.exposedports 65003/tcp \
  --config.stopsignal SIGTERM \
  "${labels[@]}"
umoci gc --layout "$oci"
det_tar -cf "$work/image.tar" -C "$oci" oci-layout index.json blobs
mv "$work/image.tar" "$out"
step "wrote $out ($ref, $(stat -c %s "$out" | awk '{ printf "%.1f", $1 / 1e6 }') MB)"
