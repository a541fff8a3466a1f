import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { composeCommand } from '../src/components/compose-cli';

const exec = promisify(execFile);
const composeFile = join(__dirname, '..', '..', 'docker-compose.yml');
const credentials = {
  QUIRE_POSTGRES_PASSWORD: 'pw',
  QUIRE_S3_ACCESS_KEY_ID: 'ak',
  QUIRE_S3_SECRET_ACCESS_KEY: 'sk',
  QUIRE_TOKEN_SIGNING_KEY: 'tk',
  QUIRE_INTERNAL_TOKEN: 'it',
  QUIRE_AGENT_SETTINGS_KEY: 'it',
};

async function compose(file: string, args: string[], env: Record<string, string> = credentials) {
  const cmd = await composeCommand();
  if (!cmd)
    throw new Error(
      'no compose client: `npm test` installs one (docker compose plugin or Debian docker-compose)',
    );
  return exec(cmd[0]!, [...cmd.slice(1), '-f', file, ...args], { env: { PATH: process.env.PATH!, ...env } });
}

describe('deploy/docker-compose.yml', () => {
  it('is a valid Compose file describing the whole platform', async () => {
    await compose(composeFile, ['config', '-q']);
    const { stdout } = await compose(composeFile, ['config', '--services']);
    expect(stdout.trim().split('\n').sort()).toEqual([
      'agent',
      'billing',
      'doc-sync',
      'gateway',
      'gpu-scheduler',
      'kafka',
      'platform-init',
      'postgres',
      's3',
      'temporal',
      'workflow-worker',
    ]);
  });

  it('pins Kafka to the version the local launcher runs', () => {
    expect(readFileSync(composeFile, 'utf8')).toContain('apache/kafka:3.9.1');
  });

  it('refuses to render without credentials (none are committed)', async () => {
    await expect(compose(composeFile, ['config', '-q'], {})).rejects.toMatchObject({
      stderr: expect.stringMatching(/QUIRE_POSTGRES_PASSWORD/),
    });
  });

  it('the check itself fails on a broken file (negative control)', async () => {
    const broken = join(mkdtempSync(join(tmpdir(), 'quire-compose-')), 'docker-compose.yml');
    const original = readFileSync(composeFile, 'utf8');
    const typo = original.replace(
      "    healthcheck:\n      test: ['CMD', 'pg_isready'",
      "    healthchek:\n      test: ['CMD', 'pg_isready'",
    );
    expect(typo).not.toEqual(original);
    writeFileSync(broken, typo);
    await expect(compose(broken, ['config', '-q'])).rejects.toMatchObject({
      stderr: expect.stringMatching(/healthchek/),
    });
  });
});
