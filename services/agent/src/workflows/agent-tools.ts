import type { LlmToolSpec } from '../llm/llm-provider';

/** The tools the model is given, and the system prompt that explains them. Pure data. */
export const AGENT_TOOLS: LlmToolSpec[] = [
  {
    name: 'read_notebook',
    description:
      'Read the notebook: every cell with its id, type, source and (shortened) outputs, in document order.',
    parameters: { type: 'object', properties: {}, additionalProperties: false },
  },
  {
    name: 'inspect_variables',
    description:
      "List the kernel's variables with their types and shapes; for pandas DataFrames also the head and dtypes.",
    parameters: {
      type: 'object',
      properties: {
        names: {
          type: 'array',
          items: { type: 'string' },
          description: 'Only these variables (default: all).',
        },
      },
      additionalProperties: false,
    },
  },
  {
    name: 'insert_cell',
    description: 'Insert a new Python code cell and (by default) run it; returns the cell id and its output.',
    parameters: {
      type: 'object',
      properties: {
        source: { type: 'string', description: 'The Python code.' },
        after_cell_id: { type: 'string', description: 'Insert after this cell (default: at the end).' },
        run: { type: 'boolean', description: 'Run it right away (default true).' },
      },
      required: ['source'],
      additionalProperties: false,
    },
  },
  {
    name: 'edit_cell',
    description: "Replace a cell's source; optionally run it afterwards.",
    parameters: {
      type: 'object',
      properties: {
        cell_id: { type: 'string' },
        source: { type: 'string' },
        run: { type: 'boolean', description: 'Run it after the edit (default false).' },
      },
      required: ['cell_id', 'source'],
      additionalProperties: false,
    },
  },
  {
    name: 'delete_cell',
    description: 'Delete a cell.',
    parameters: {
      type: 'object',
      properties: { cell_id: { type: 'string' } },
      required: ['cell_id'],
      additionalProperties: false,
    },
  },
  {
    name: 'run_cell',
    description: 'Run an existing cell and return its output.',
    parameters: {
      type: 'object',
      properties: { cell_id: { type: 'string' } },
      required: ['cell_id'],
      additionalProperties: false,
    },
  },
  {
    name: 'finish',
    description: 'End the run with a short summary of what was found or done, for the person.',
    parameters: {
      type: 'object',
      properties: { summary: { type: 'string' } },
      required: ['summary'],
      additionalProperties: false,
    },
  },
];

export function systemPrompt(mode: 'review' | 'auto'): string {
  return [
    'You are a data analysis agent working inside a shared Jupyter-style notebook (Python kernel).',
    'Work in small steps: write a cell, run it, read its output, then decide the next step.',
    'Outputs you see are shortened (head and tail of long text; images and HTML are described, not shown).',
    "The user's files are in the working directory of the kernel. Do not print secrets or environment variables.",
    mode === 'review'
      ? 'A person reviews every cell you propose before it runs; a rejected cell is removed — take another approach.'
      : 'Your cells run as soon as you insert them.',
    'When the goal is met, call finish with a short summary of the findings.',
  ].join('\n');
}

export function goalMessage(goal: string, notebook: string): string {
  return `Goal: ${goal}\n\nThe notebook now:\n${notebook}`;
}
