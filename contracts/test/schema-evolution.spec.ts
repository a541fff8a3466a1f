import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ALL_EVENTS, defineEvent } from '../src';
import { breakingChanges, publishedSchemaOf } from '../src/evolution/schema-compatibility';

const SNAPSHOTS = join(__dirname, '..', 'schema-snapshots');
const update = process.env.QUIRE_UPDATE_SCHEMA_SNAPSHOTS === '1';

describe('published event schemas change only additively', () => {
  it.each(ALL_EVENTS.map((d) => [`${d.type} v${d.schemaVersion}`, d] as const))('%s', (_name, def) => {
    const file = join(SNAPSHOTS, `${def.type}.v${def.schemaVersion}.json`);
    const current = publishedSchemaOf(def);
    if (!existsSync(file)) {
      if (!update)
        throw new Error(
          `no published snapshot for ${def.type} v${def.schemaVersion}: record it with QUIRE_UPDATE_SCHEMA_SNAPSHOTS=1`,
        );
      mkdirSync(SNAPSHOTS, { recursive: true });
      writeFileSync(file, `${JSON.stringify(current, null, 2)}\n`);
      return;
    }
    const published = JSON.parse(readFileSync(file, 'utf8'));
    expect(breakingChanges(published, current)).toEqual([]);
    if (update) writeFileSync(file, `${JSON.stringify(current, null, 2)}\n`);
  });
});

describe('the compatibility checker (negative controls)', () => {
  const v1 = defineEvent({
    type: 'quire.test.Thing',
    schemaVersion: 1,
    topic: 'test.v1',
    description: 'test',
    data: z.object({
      a: z.string(),
      b: z.number().optional(),
      kind: z.enum(['x', 'y']),
      nested: z.object({ n: z.number() }),
    }),
  });
  const base = publishedSchemaOf(v1);
  const variant = (data: z.ZodType) => publishedSchemaOf({ ...v1, data });

  it('accepts a new optional field', () => {
    expect(breakingChanges(base, variant(z.object({ ...v1.data.shape, c: z.string().optional() })))).toEqual(
      [],
    );
  });

  it('rejects a removed field', () => {
    const { a: _a, ...rest } = v1.data.shape;
    expect(breakingChanges(base, variant(z.object(rest)))).toEqual(['$.a was removed']);
  });

  it('rejects a new required field', () => {
    expect(breakingChanges(base, variant(z.object({ ...v1.data.shape, c: z.string() })))).toEqual([
      '$.c is now required',
    ]);
  });

  it('rejects an optional field becoming required', () => {
    expect(breakingChanges(base, variant(z.object({ ...v1.data.shape, b: z.number() })))).toEqual([
      '$.b is now required',
    ]);
  });

  it('rejects a changed type, a new enum value, and a change deep inside', () => {
    const changed = breakingChanges(
      base,
      variant(
        z.object({
          a: z.number(),
          b: z.number().optional(),
          kind: z.enum(['x', 'y', 'z']),
          nested: z.object({ n: z.string() }),
        }),
      ),
    );
    expect(changed).toHaveLength(3);
    expect(changed.join('\n')).toMatch(/\$\.a changed/);
    expect(changed.join('\n')).toMatch(/\$\.kind changed/);
    expect(changed.join('\n')).toMatch(/\$\.nested\.n changed/);
  });

  it('rejects closing an object to unknown fields', () => {
    expect(breakingChanges(base, variant(v1.data.strict()))).toContain('$ no longer accepts unknown fields');
  });
});
