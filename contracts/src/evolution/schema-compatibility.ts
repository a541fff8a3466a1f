import { z } from 'zod';
import type { EventDefinition } from '../envelope';

/**
 * The schema evolution rule, as code (see contracts/SCHEMA_EVOLUTION.md):
 * within one schemaVersion of an event, the only allowed change is adding an
 * optional field. Everything else — removing or renaming a field, changing its
 * type or its allowed values, making it required — is a new version.
 */
export type JsonSchema = Record<string, unknown>;

export function publishedSchemaOf(def: EventDefinition): JsonSchema {
  return z.toJSONSchema(def.data, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

export function breakingChanges(before: JsonSchema, after: JsonSchema, path = '$'): string[] {
  const problems: string[] = [];
  const isObject = (s: JsonSchema) => s.type === 'object' && typeof s.properties === 'object';
  if (isObject(before) && isObject(after)) {
    const bp = before.properties as Record<string, JsonSchema>;
    const ap = after.properties as Record<string, JsonSchema>;
    const breq = new Set((before.required as string[] | undefined) ?? []);
    const areq = new Set((after.required as string[] | undefined) ?? []);
    for (const name of Object.keys(bp)) {
      if (!(name in ap)) problems.push(`${path}.${name} was removed`);
      else problems.push(...breakingChanges(bp[name]!, ap[name]!, `${path}.${name}`));
    }
    for (const name of areq) {
      if (!breq.has(name)) problems.push(`${path}.${name} is now required`);
    }
    if (before.additionalProperties !== false && after.additionalProperties === false) {
      problems.push(`${path} no longer accepts unknown fields`);
    }
    return problems;
  }
  if (JSON.stringify(before) !== JSON.stringify(after)) {
    problems.push(`${path} changed from ${JSON.stringify(before)} to ${JSON.stringify(after)}`);
  }
  return problems;
}
