import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes the raw results as JSON under $QUIRE_STATE_DIR/bench (when set) and says where. */
export function saveResults(name: string, results: unknown): string | undefined {
  const stateDir = process.env.QUIRE_STATE_DIR;
  if (!stateDir) return undefined;
  const dir = join(stateDir, 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2));
  return file;
}

export function verdict(label: string, value: number, budget: number, goal: number): string {
  const b = value < budget ? 'within budget' : 'OVER BUDGET';
  const g = value < goal ? 'meets goal' : 'misses goal';
  return `${label}: ${value.toFixed(0)} ms — ${b} (< ${budget} ms), ${g} (< ${goal} ms)`;
}
