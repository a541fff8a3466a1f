import { z } from 'zod';

/** Identifiers are opaque, URL-safe strings; kernel/notebook ids are chosen by their owners. */
export const id = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be an id: letters, digits, . _ : -');
export const bytes = z.number().int().nonnegative();
export const millis = z.number().nonnegative();
/** Exact money: a decimal string, never a float. */
export const decimal = z.string().regex(/^-?\d+(\.\d+)?$/, 'must be a decimal string');
export const currency = z.string().regex(/^[A-Z]{3}$/);
export const tier = z.enum(['free', 'team', 'gpu', 'enterprise']);
export const kernelState = z.enum([
  'ABSENT',
  'PROVISION',
  'COLD_BOOT',
  'RUNNING',
  'IDLE',
  'HIBERNATED',
  'RESTORE',
  'EVICTED',
  'DEAD',
]);
export type KernelState = z.infer<typeof kernelState>;
