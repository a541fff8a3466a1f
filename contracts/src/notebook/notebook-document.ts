/**
 * The notebook as a Y.Doc — shared by doc-sync (persistence, .ipynb import and
 * export), the gateway (writes outputs) and the web editor. It follows
 * JupyterLab's `@jupyter/ydoc` YNotebook layout so the models map 1:1:
 *
 *   ydoc.getArray('cells')  Y.Array<Y.Map> — one Y.Map per cell:
 *       id               string (nbformat 4.5 cell id; stable, unique in the notebook)
 *       cell_type        'code' | 'markdown' | 'raw'
 *       source           Y.Text
 *       metadata         Y.Map (nbformat cell metadata)
 *       outputs          Y.Array<NotebookOutput>   (code cells only; plain JSON objects)
 *       execution_count  number | null             (code cells only)
 *       attachments      plain object              (markdown/raw, optional)
 *       quire:execution  CellExecutionInfo | undefined (who ran it, when, how long — not exported to .ipynb metadata)
 *   ydoc.getMap('meta')     nbformat, nbformat_minor, metadata (notebook metadata, plain object)
 *
 * No yjs import here: contracts stays dependency-light; each side uses these names.
 */
export const NOTEBOOK_DOC = {
  cells: 'cells',
  meta: 'meta',
  cell: {
    id: 'id',
    type: 'cell_type',
    source: 'source',
    metadata: 'metadata',
    outputs: 'outputs',
    executionCount: 'execution_count',
    attachments: 'attachments',
    execution: 'quire:execution',
  },
} as const;

export const NOTEBOOK_LIMITS = {
  /** Whole document (encoded Y.Doc state). */
  maxDocumentBytes: 50 * 1024 * 1024,
  /** An output bigger than this goes to S3 and the doc holds a reference. */
  maxInlineOutputBytes: 256 * 1024,
  /** A cell's outputs are cut here, with a link to the full object. */
  maxCellOutputBytes: 5 * 1024 * 1024,
} as const;

/** nbformat 4 outputs, as JSON. */
export type NotebookOutput =
  | { output_type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | {
      output_type: 'display_data';
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
      transient?: { display_id?: string };
    }
  | {
      output_type: 'execute_result';
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
      execution_count: number | null;
    }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

/**
 * A large output lives in S3; the doc holds this under
 * `data['application/vnd.quire.output-ref+json']` of a display_data output,
 * with a short `text/plain` preview beside it.
 */
export const OUTPUT_REF_MIME = 'application/vnd.quire.output-ref+json';
export interface OutputRef {
  /** Gateway URL the editor fetches the full output from (auth as the user). */
  url: string;
  /** The original MIME type / output type it stands for. */
  mime: string;
  bytes: number;
  /** True when the cell's output was cut at maxCellOutputBytes and this is the rest. */
  truncated: boolean;
}

export interface CellExecutionInfo {
  executionId: string;
  userId: string;
  userName: string;
  status: 'queued' | 'running' | 'ok' | 'error' | 'interrupted' | 'kernel_died' | 'aborted';
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  ms: number | null;
}
