import { z } from 'zod';

/**
 * nbformat 4 (4.0–4.5) as a zod schema: enough structure to refuse what is not
 * a notebook with a clear message, while every field we do not interpret
 * (metadata, unknown MIME types, attachments) passes through untouched so an
 * import/export round trip is lossless.
 */
const multiline = z.union([z.string(), z.array(z.string())]);
const json = z.record(z.string(), z.unknown());
const mimeBundle = z.record(z.string(), z.unknown());

const streamOutput = z.object({
  output_type: z.literal('stream'),
  name: z.enum(['stdout', 'stderr']),
  text: multiline,
});
const displayData = z.object({
  output_type: z.literal('display_data'),
  data: mimeBundle,
  metadata: json.default({}),
  transient: z.object({ display_id: z.string().optional() }).optional(),
});
const executeResult = z.object({
  output_type: z.literal('execute_result'),
  data: mimeBundle,
  metadata: json.default({}),
  execution_count: z.number().int().nullable(),
});
const errorOutput = z.object({
  output_type: z.literal('error'),
  ename: z.string(),
  evalue: z.string(),
  traceback: z.array(z.string()),
});
export const ipynbOutputSchema = z.discriminatedUnion('output_type', [
  streamOutput,
  displayData,
  executeResult,
  errorOutput,
]);

const cellId = z.string().regex(/^[a-zA-Z0-9-_]{1,64}$/, 'nbformat 4.5 cell ids: 1–64 of a-z A-Z 0-9 - _');

const codeCell = z.object({
  cell_type: z.literal('code'),
  id: cellId.optional(),
  source: multiline,
  metadata: json.default({}),
  outputs: z.array(ipynbOutputSchema).default([]),
  execution_count: z.number().int().nullable().default(null),
});
const markdownCell = z.object({
  cell_type: z.literal('markdown'),
  id: cellId.optional(),
  source: multiline,
  metadata: json.default({}),
  attachments: json.optional(),
});
const rawCell = z.object({
  cell_type: z.literal('raw'),
  id: cellId.optional(),
  source: multiline,
  metadata: json.default({}),
  attachments: json.optional(),
});

export const ipynbSchema = z.object({
  nbformat: z.literal(4, { error: 'only nbformat 4 notebooks can be imported' }),
  nbformat_minor: z.number().int().min(0),
  metadata: json.default({}),
  cells: z.array(z.discriminatedUnion('cell_type', [codeCell, markdownCell, rawCell])),
});

export type Ipynb = z.infer<typeof ipynbSchema>;
export type IpynbCell = Ipynb['cells'][number];
export type IpynbOutput = z.infer<typeof ipynbOutputSchema>;
