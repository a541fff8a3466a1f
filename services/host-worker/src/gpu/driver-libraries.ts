import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** User-space driver libraries a CUDA program loads; they must match the host's kernel driver. */
const DRIVER_LIBRARY_NAMES = [
  'libcuda.so.1',
  'libnvidia-ml.so.1',
  'libnvidia-ptxjitcompiler.so.1',
  'libnvidia-nvvm.so.4',
  'libnvidia-gpucomp.so',
];

/** Picks the 64-bit driver libraries out of `ldconfig -p`, with the files their links point to. */
export function parseLdconfigDriverLibraries(ldconfigOutput: string): string[] {
  const paths = new Set<string>();
  for (const line of ldconfigOutput.split('\n')) {
    const match = line.match(/^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)\s*$/);
    const [, name, arch, path] = match ?? [];
    if (!name || !arch?.includes('x86-64') || !path) continue;
    if (DRIVER_LIBRARY_NAMES.some((wanted) => name === wanted || name.startsWith(`${wanted}.`)))
      paths.add(path);
  }
  return [...paths];
}

/** The host's NVIDIA driver libraries (links and their targets), to mount read-only into GPU sandboxes. */
export async function findDriverLibraries(): Promise<string[]> {
  let stdout = '';
  try {
    ({ stdout } = await execFileAsync('ldconfig', ['-p'], { timeout: 10_000 }));
  } catch {
    return [];
  }
  const paths = new Set<string>();
  for (const path of parseLdconfigDriverLibraries(stdout)) {
    paths.add(path);
    try {
      paths.add(realpathSync(path));
    } catch {
      // a dangling link is left to fail loudly inside the sandbox
    }
  }
  return [...paths];
}
