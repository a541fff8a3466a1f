/**
 * The OCI runtime spec of one kernel sandbox. What it grants is the whole
 * security story, so it is small and explicit:
 *  - root filesystem read-only: an empty skeleton plus the image's /usr (and
 *    the kernel environment) bind-mounted read-only; nothing else of the host;
 *  - writable scratch /tmp (tmpfs with a size cap) and the user's volume at
 *    /home/jovyan, the only persistent writable place;
 *  - no network (runsc --network=none), all Linux capabilities dropped,
 *    no new privileges, an unprivileged uid;
 *  - pids, memory and CPU limits from the tier.
 */
export interface SandboxLimits {
  memoryBytes: number;
  /** CPU cores, e.g. 0.5 or 2. */
  cpus: number;
  pids: number;
  tmpBytes: number;
}

export interface SandboxSpecOptions {
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Capabilities of the sandbox's first process (default: none). */
  capabilities?: string[];
  limits: SandboxLimits;
  hostname?: string;
  /** Host folder of the image's /usr (default: the host's /usr). */
  imageUsr?: string;
  /** Host folder of the Python kernel environment, mounted at KERNEL_ENV_MOUNT. */
  kernelEnvDir?: string;
  /** Host folder mounted read-write at /home/jovyan. */
  homeVolumeDir?: string;
  /**
   * Host folder mounted read-write at /home instead (warm-pool sandboxes): the
   * user's volume is bind-mounted on the host at `<dir>/jovyan` once the user
   * is known, and appears inside through mount propagation (the folder must be
   * a shared mount; see the host worker's home-volume slots).
   */
  homeParentDir?: string;
  /** Extra read-only mounts: host path → sandbox path. */
  readOnlyMounts?: { source: string; destination: string }[];
  /**
   * Character devices the sandbox may open, e.g. /dev/nvidiactl, /dev/nvidia-uvm
   * and the one allocated /dev/nvidia<N>: runsc --nvproxy proxies exactly the
   * NVIDIA devices listed here (linux.devices), so only those are visible.
   */
  devices?: LinuxDeviceNode[];
}

export interface LinuxDeviceNode {
  path: string;
  type: 'c';
  major: number;
  minor: number;
  fileMode?: number;
}

export const KERNEL_ENV_MOUNT = '/opt/quire/kernel-env';
export const HOME_MOUNT = '/home/jovyan';
export const HOME_PARENT_MOUNT = '/home';
export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 1000;

export const DEFAULT_LIMITS: SandboxLimits = {
  memoryBytes: 1024 ** 3,
  cpus: 1,
  pids: 1024,
  tmpBytes: 512 * 1024 ** 2,
};

export interface OciSpec {
  ociVersion: string;
  process: Record<string, unknown>;
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options?: string[] }[];
  linux: Record<string, unknown>;
}

export function buildOciSpec(opts: SandboxSpecOptions): OciSpec {
  const { limits } = opts;
  const cpuPeriod = 100_000;
  const env = {
    PATH: `${KERNEL_ENV_MOUNT}/bin:/usr/local/bin:/usr/bin:/bin`,
    HOME: HOME_MOUNT,
    LANG: 'C.UTF-8',
    TMPDIR: '/tmp',
    ...(opts.env ?? {}),
  };
  const mounts: OciSpec['mounts'] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/tmp',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'nodev', 'mode=1777', `size=${limits.tmpBytes}`],
    },
    {
      destination: '/usr',
      type: 'bind',
      source: opts.imageUsr ?? '/usr',
      options: ['rbind', 'ro', 'nosuid', 'nodev'],
    },
  ];
  if (opts.kernelEnvDir) {
    mounts.push({
      destination: KERNEL_ENV_MOUNT,
      type: 'bind',
      source: opts.kernelEnvDir,
      options: ['rbind', 'ro', 'nosuid', 'nodev'],
    });
  }
  if (opts.homeVolumeDir) {
    mounts.push({
      destination: HOME_MOUNT,
      type: 'bind',
      source: opts.homeVolumeDir,
      options: ['rbind', 'rw', 'nosuid', 'nodev'],
    });
  }
  if (opts.homeParentDir && !opts.homeVolumeDir) {
    mounts.push({
      destination: HOME_PARENT_MOUNT,
      type: 'bind',
      source: opts.homeParentDir,
      options: ['rbind', 'rw', 'nosuid', 'nodev'],
    });
  }
  for (const m of opts.readOnlyMounts ?? []) {
    mounts.push({
      destination: m.destination,
      type: 'bind',
      source: m.source,
      options: ['rbind', 'ro', 'nosuid', 'nodev'],
    });
  }
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: opts.uid ?? SANDBOX_UID, gid: opts.gid ?? SANDBOX_GID },
      args: opts.args,
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      cwd: opts.cwd ?? (opts.homeVolumeDir ? HOME_MOUNT : '/tmp'),
      noNewPrivileges: true,
      capabilities: {
        bounding: opts.capabilities ?? [],
        effective: opts.capabilities ?? [],
        inheritable: [],
        permitted: opts.capabilities ?? [],
        ambient: [],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 4096 }],
    },
    root: { path: 'rootfs', readonly: true },
    hostname: opts.hostname ?? 'quire-kernel',
    mounts,
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
      ...(opts.devices && opts.devices.length > 0
        ? {
            devices: opts.devices.map((device) => ({
              fileMode: 0o666,
              uid: 0,
              gid: 0,
              ...device,
            })),
          }
        : {}),
      resources: {
        ...(opts.devices && opts.devices.length > 0
          ? {
              devices: [
                { allow: false, access: 'rwm' },
                ...opts.devices.map(({ major, minor }) => ({
                  allow: true,
                  type: 'c',
                  major,
                  minor,
                  access: 'rw',
                })),
              ],
            }
          : {}),
        memory: { limit: limits.memoryBytes },
        pids: { limit: limits.pids },
        cpu: { quota: Math.max(1000, Math.round(limits.cpus * cpuPeriod)), period: cpuPeriod },
      },
    },
  };
}
