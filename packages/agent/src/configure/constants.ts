import { DEFAULT_LISTEN } from '../constants.ts'

/** Where runtimes pull through by default: the agent's own listen address. */
export const DEFAULT_MIRROR = DEFAULT_LISTEN
/** The registry mirrored when no `--registry` is given. */
export const DEFAULT_REGISTRY = 'docker.io'
/** Docker Hub's API endpoint; `docker.io` is only the name images use. */
export const DOCKER_HUB_SERVER = 'https://registry-1.docker.io'

/** System paths, prefixed with `--root` at run time. */
export const CONTAINERD_CERTS_DIR = '/etc/containerd/certs.d'
export const CONTAINERD_CONFIG = '/etc/containerd/config.toml'
export const REGISTRIES_CONF = '/etc/containers/registries.conf'
export const DAEMON_JSON = '/etc/docker/daemon.json'
/** Where containers/image (podman, CRI-O) and dockerd look for a registry's CA: `<dir>/<host:port>/ca.crt`. */
export const CONTAINERS_CERTS_DIR = '/etc/containers/certs.d'
export const DOCKER_CERTS_DIR = '/etc/docker/certs.d'

/** Backups are `<file>.shoal-backup-<timestamp>`, next to the file. */
export const BACKUP_SUFFIX = '.shoal-backup-'
