import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const TICKS = 100; // USER_HZ on Linux

function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime + stime
  } catch {
    return 0; // exited
  }
}

/** CPU time and resident memory of one process, read from /proc (Linux). */
export class ProcessMeter {
  private startCpu = 0;
  private startWall = 0;
  private maxRss = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pid: number) {}

  private rssMb(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  }

  start(): void {
    this.startCpu = cpuSecondsOf(this.pid);
    this.startWall = performance.now();
    this.maxRss = this.rssMb();
    this.timer = setInterval(() => (this.maxRss = Math.max(this.maxRss, this.rssMb())), 250);
  }

  stop(): { cpuPercent: number; maxRssMb: number; rssMb: number } {
    clearInterval(this.timer);
    const wall = (performance.now() - this.startWall) / 1000;
    const rss = this.rssMb();
    return {
      cpuPercent: ((cpuSecondsOf(this.pid) - this.startCpu) / wall) * 100,
      maxRssMb: Math.max(this.maxRss, rss),
      rssMb: rss,
    };
  }
}

/**
 * CPU of the platform's PostgreSQL (postmaster + its backends), found from
 * $QUIRE_STATE_DIR/postgres/data/postmaster.pid: doc-sync writes every update
 * there, so that work is part of what doc-sync costs. Backends that start and
 * end inside the window are missed (doc-sync keeps a pool open, so few do).
 */
export class PostgresMeter {
  private start = new Map<number, number>();
  private startWall = 0;

  private pids(): number[] {
    const file = join(process.env.QUIRE_STATE_DIR ?? '.quire/state', 'postgres', 'data', 'postmaster.pid');
    if (!existsSync(file)) return [];
    const master = Number(readFileSync(file, 'utf8').split('\n')[0]);
    const out = [master];
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const m = /PPid:\s+(\d+)/.exec(readFileSync(`/proc/${d}/status`, 'utf8'));
        if (m && Number(m[1]) === master) out.push(Number(d));
      } catch {
        /* gone */
      }
    }
    return out;
  }

  begin(): void {
    this.start = new Map(this.pids().map((p) => [p, cpuSecondsOf(p)]));
    this.startWall = performance.now();
  }

  /** CPU % over the window (100 % = one core); undefined when PostgreSQL is not local. */
  end(): number | undefined {
    const pids = this.pids();
    if (!pids.length) return undefined;
    const wall = (performance.now() - this.startWall) / 1000;
    const used = pids.reduce((sum, p) => sum + cpuSecondsOf(p) - (this.start.get(p) ?? cpuSecondsOf(p)), 0);
    return (used / wall) * 100;
  }
}
