#!/usr/bin/env bash
# Installs the real parts the tests run: the CNCF Distribution registry (the origin), skopeo, podman
# and containerd (the clients), iproute2 and curl (the swarm bench's network namespaces), prometheus
# (promtool and a server that scrapes agents for the dashboard and rules in deploy/), mmdebstrap and
# umoci (pnpm build:image and its test), kubectl and systemd-analyze (the deploy/ manifests and
# units). Debian's docker-registry package
# starts a registry on :5000 of every interface when installed; a policy-rc.d that exits 101 blocks
# that, so only the tests' own instances run; it also keeps containerd's service from starting
# (the tests run their own containerd on temp dirs and a socket of its own) and prometheus's service
# on :9090 (the tests run their own on a port the OS chooses).
set -euo pipefail
missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v containerd >/dev/null 2>&1 || missing+=(containerd)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v tc >/dev/null 2>&1 || missing+=(iproute2)
command -v curl >/dev/null 2>&1 || missing+=(curl)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
command -v umoci >/dev/null 2>&1 || missing+=(umoci)
# kubectl renders deploy/kubernetes (any kubectl will do: Debian's package would clash with one
# installed otherwise); systemd-analyze verifies deploy/systemd.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "the tests need: ${missing[*]} (Debian packages); install them as root and run again" >&2
  exit 1
fi
echo "installing ${missing[*]} (registry service start-up blocked)"
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created=1
fi
trap '[ "$created" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
