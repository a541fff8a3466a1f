import { OUTPUT_REF_MIME, type OutputRef } from '@quire/contracts';

/**
 * What the editor shows for one nbformat output, decided without a DOM. The
 * view renders each kind; this module picks the richest MIME type the editor
 * can show safely (Jupyter's display priority) and normalises nbformat's
 * "multiline string" (string | string[]).
 */
export type OutputView =
  | { kind: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { kind: 'error'; ename: string; evalue: string; traceback: string }
  | { kind: 'html'; html: string }
  | { kind: 'image'; mime: string; src: string; alt: string }
  | { kind: 'markdown'; markdown: string }
  | { kind: 'json'; json: string }
  | { kind: 'text'; text: string }
  | { kind: 'ref'; ref: OutputRef; preview: string }
  | { kind: 'unsupported'; mimes: string[] };

/** Richest first. SVG is shown through <img> (no script runs in an image). */
export const MIME_PRIORITY = [
  OUTPUT_REF_MIME,
  'text/html',
  'image/svg+xml',
  'image/png',
  'image/jpeg',
  'image/gif',
  'text/markdown',
  'application/json',
  'text/plain',
] as const;

export function multiline(value: unknown): string {
  if (Array.isArray(value)) return value.map((v) => String(v)).join('');
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  return JSON.stringify(value, null, 2);
}

function base64Of(text: string): string {
  // Strings from Python are ASCII/latin-1 safe after this encoding.
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

export function isOutputRef(value: unknown): value is OutputRef {
  if (!value || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.url === 'string' && typeof v.mime === 'string' && typeof v.bytes === 'number';
}

export function outputView(output: unknown): OutputView {
  if (!output || typeof output !== 'object') return { kind: 'unsupported', mimes: [] };
  const o = output as Record<string, unknown>;
  switch (o.output_type) {
    case 'stream':
      return { kind: 'stream', name: o.name === 'stderr' ? 'stderr' : 'stdout', text: multiline(o.text) };
    case 'error':
      return {
        kind: 'error',
        ename: String(o.ename ?? 'Error'),
        evalue: String(o.evalue ?? ''),
        traceback: Array.isArray(o.traceback)
          ? o.traceback.map(String).join('\n')
          : `${String(o.ename)}: ${String(o.evalue)}`,
      };
    case 'display_data':
    case 'execute_result':
    case 'update_display_data':
      return richView((o.data ?? {}) as Record<string, unknown>);
    default:
      return { kind: 'unsupported', mimes: [] };
  }
}

export function richView(data: Record<string, unknown>): OutputView {
  for (const mime of MIME_PRIORITY) {
    if (!(mime in data)) continue;
    const value = data[mime];
    switch (mime) {
      case OUTPUT_REF_MIME:
        if (isOutputRef(value)) return { kind: 'ref', ref: value, preview: multiline(data['text/plain']) };
        continue;
      case 'text/html':
        return { kind: 'html', html: multiline(value) };
      case 'image/svg+xml':
        return {
          kind: 'image',
          mime,
          src: `data:image/svg+xml;base64,${base64Of(multiline(value))}`,
          alt: altText(data),
        };
      case 'image/png':
      case 'image/jpeg':
      case 'image/gif':
        return {
          kind: 'image',
          mime,
          src: `data:${mime};base64,${multiline(value).replace(/\s+/g, '')}`,
          alt: altText(data),
        };
      case 'text/markdown':
        return { kind: 'markdown', markdown: multiline(value) };
      case 'application/json':
        return { kind: 'json', json: JSON.stringify(value, null, 2) };
      case 'text/plain':
        return { kind: 'text', text: multiline(value) };
    }
  }
  return { kind: 'unsupported', mimes: Object.keys(data) };
}

function altText(data: Record<string, unknown>): string {
  const plain = multiline(data['text/plain']).trim();
  return plain || 'output image';
}
