import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Memory and CPU truth for one sandbox, from the host cgroup runsc puts it in
 * (cgroup v1 here; v2 paths are handled too). The memory limit of the OCI
 * spec lands on this cgroup, and when it is exceeded the host OOM killer ends
 * the whole sandbox (exit 137) with no MemoryError inside and no `runsc events`
 * record — so OOM is told from these readings: the last peak, failcnt and
 * oom_kill, sampled until the sandbox is gone.
 */
export interface ResourceReading {
  memoryBytes: number;
  peakMemoryBytes: number;
  memoryLimitBytes: number;
  cpuSecondsTotal: number;
  failcnt: number;
  oomKills: number;
  /** The cgroup is at its limit with the OOM killer disabled: its tasks are frozen. */
  underOom: boolean;
}

const CGROUP_ROOT = process.env.QUIRE_CGROUP_ROOT ?? '/sys/fs/cgroup';

function readNumber(path: string): number | undefined {
  try {
    const raw = readFileSync(path, 'utf8').trim();
    if (raw === 'max') return Number.MAX_SAFE_INTEGER;
    const n = Number(raw);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function readKeyed(path: string, key: string): number | undefined {
  try {
    const line = readFileSync(path, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${key} `));
    return line ? Number(line.split(' ')[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The cgroup paths of a process, from /proc/<pid>/cgroup. */
export function cgroupPathsOf(pid: number): { memory?: string; cpuacct?: string; unified?: string } {
  const out: { memory?: string; cpuacct?: string; unified?: string } = {};
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined || controllers === undefined) continue;
    for (const c of controllers.split(',')) {
      if (c === 'memory') out.memory = join(CGROUP_ROOT, 'memory', path);
      if (c === 'cpuacct') out.cpuacct = join(CGROUP_ROOT, 'cpuacct', path);
    }
    if (controllers === '' && path !== '/') out.unified = join(CGROUP_ROOT, path);
  }
  return out;
}

export class CgroupSampler {
  private timer?: NodeJS.Timeout;
  last?: ResourceReading;
  peak = 0;
  /** Called once when the sandbox hits its memory limit (needs disableOomKiller()). */
  onUnderOom?: (reading: ResourceReading) => void;
  private oomReported = false;

  constructor(
    private readonly paths: { memory?: string; cpuacct?: string; unified?: string },
    private readonly limitFromSpec: number,
  ) {}

  read(): ResourceReading | undefined {
    const { memory, cpuacct, unified } = this.paths;
    let reading: ResourceReading | undefined;
    if (memory) {
      const usage = readNumber(join(memory, 'memory.usage_in_bytes'));
      if (usage === undefined) return undefined;
      reading = {
        memoryBytes: usage,
        peakMemoryBytes: readNumber(join(memory, 'memory.max_usage_in_bytes')) ?? usage,
        memoryLimitBytes: Math.min(
          readNumber(join(memory, 'memory.limit_in_bytes')) ?? this.limitFromSpec,
          this.limitFromSpec,
        ),
        cpuSecondsTotal: (readNumber(join(cpuacct ?? '', 'cpuacct.usage')) ?? 0) / 1e9,
        failcnt: readNumber(join(memory, 'memory.failcnt')) ?? 0,
        oomKills: readKeyed(join(memory, 'memory.oom_control'), 'oom_kill') ?? 0,
        underOom: readKeyed(join(memory, 'memory.oom_control'), 'under_oom') === 1,
      };
    } else if (unified) {
      const usage = readNumber(join(unified, 'memory.current'));
      if (usage === undefined) return undefined;
      reading = {
        memoryBytes: usage,
        peakMemoryBytes: readNumber(join(unified, 'memory.peak')) ?? usage,
        memoryLimitBytes: Math.min(
          readNumber(join(unified, 'memory.max')) ?? this.limitFromSpec,
          this.limitFromSpec,
        ),
        cpuSecondsTotal: (readKeyed(join(unified, 'cpu.stat'), 'usage_usec') ?? 0) / 1e6,
        failcnt: readKeyed(join(unified, 'memory.events'), 'max') ?? 0,
        oomKills: readKeyed(join(unified, 'memory.events'), 'oom_kill') ?? 0,
        underOom: false,
      };
    }
    if (reading) {
      this.peak = Math.max(this.peak, reading.peakMemoryBytes, reading.memoryBytes);
      this.last = reading;
      if (reading.underOom && !this.oomReported) {
        this.oomReported = true;
        this.onUnderOom?.(reading);
      }
    }
    return reading;
  }

  /**
   * cgroup v1: turn the kernel's OOM killer off for this sandbox, so hitting
   * the limit freezes it (under_oom = 1) instead of killing it at a random
   * moment; the sampler sees that within one interval and the host ends the
   * sandbox with an exact "out of memory at X / Y". Best effort: false when
   * the cgroup does not allow it (then exit 137 + readings decide).
   */
  disableOomKiller(): boolean {
    if (!this.paths.memory) return false;
    try {
      writeFileSync(join(this.paths.memory, 'memory.oom_control'), '1');
      return readKeyed(join(this.paths.memory, 'memory.oom_control'), 'oom_kill_disable') === 1;
    } catch {
      return false;
    }
  }

  /**
   * Hands a frozen (under_oom) sandbox back to the kernel's OOM killer: it dies
   * at once. (A plain SIGKILL can wait a long time: the frozen sandbox cannot
   * allocate the memory it needs to exit.)
   */
  enableOomKiller(): void {
    if (!this.paths.memory) return;
    try {
      writeFileSync(join(this.paths.memory, 'memory.oom_control'), '0');
    } catch {
      /* already gone */
    }
  }

  start(intervalMs = 200): void {
    this.stop();
    this.read();
    this.timer = setInterval(() => this.read(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Was an unexpected SIGKILL of the sandbox the OOM killer? */
  looksLikeOom(): boolean {
    const r = this.last;
    if (!r) return false;
    return r.underOom || r.oomKills > 0 || r.failcnt > 0 || this.peak >= 0.9 * r.memoryLimitBytes;
  }
}

const GiB = 1024 ** 3;

export function formatGiB(bytes: number): string {
  return `${(bytes / GiB).toFixed(bytes < GiB ? 2 : 1)} GiB`;
}

/** "Kernel died (out of memory at 7.8 GiB / 8 GiB)". */
export function oomMessage(peak: number, limit: number): string {
  const limitText = limit % GiB === 0 ? `${limit / GiB} GiB` : formatGiB(limit);
  return `Kernel died (out of memory at ${formatGiB(peak)} / ${limitText})`;
}
