/**
 * Jupyter's keyboard model, as a pure function: command mode (a cell is
 * selected, keys act on cells) and edit mode (typing in a cell). Two-key
 * chords (D D, I I, 0 0) keep a pending key between presses.
 */
export type NotebookAction =
  | 'run-advance' // Shift-Enter
  | 'run' // Ctrl/Cmd-Enter
  | 'run-insert' // Alt-Enter
  | 'insert-above' // A
  | 'insert-below' // B
  | 'delete' // D D
  | 'to-markdown' // M
  | 'to-code' // Y
  | 'to-raw' // R
  | 'undo' // Z
  | 'redo' // Shift-Z
  | 'edit' // Enter
  | 'command' // Escape (edit mode)
  | 'select-up' // K / ArrowUp
  | 'select-down' // J / ArrowDown
  | 'move-up' // Ctrl-Shift-ArrowUp
  | 'move-down' // Ctrl-Shift-ArrowDown
  | 'merge-below' // Shift-M
  | 'split' // Ctrl-Shift-- (edit mode)
  | 'copy' // C
  | 'cut' // X
  | 'paste' // V
  | 'interrupt' // I I
  | 'restart' // 0 0
  | 'clear-outputs'; // O (toggle in Jupyter; here: clear)

export interface KeyInput {
  key: string;
  shiftKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
}

export interface KeyResult {
  action: NotebookAction | null;
  /** The first key of a chord waiting for its second press. */
  pending: string | null;
}

export function commandModeKey(e: KeyInput, pending: string | null): KeyResult {
  const mod = e.ctrlKey || e.metaKey;
  if (e.key === 'Enter') {
    if (e.shiftKey) return { action: 'run-advance', pending: null };
    if (mod) return { action: 'run', pending: null };
    if (e.altKey) return { action: 'run-insert', pending: null };
    return { action: 'edit', pending: null };
  }
  if (mod && e.shiftKey && e.key === 'ArrowUp') return { action: 'move-up', pending: null };
  if (mod && e.shiftKey && e.key === 'ArrowDown') return { action: 'move-down', pending: null };
  if (mod || e.altKey) return { action: null, pending: null };
  if (e.key === 'ArrowUp') return { action: 'select-up', pending: null };
  if (e.key === 'ArrowDown') return { action: 'select-down', pending: null };
  const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  if (e.shiftKey) {
    if (k === 'm') return { action: 'merge-below', pending: null };
    if (k === 'z') return { action: 'redo', pending: null };
    return { action: null, pending: null };
  }
  const chord = (second: string, action: NotebookAction): KeyResult =>
    pending === second ? { action, pending: null } : { action: null, pending: second };
  switch (k) {
    case 'd':
      return chord('d', 'delete');
    case 'i':
      return chord('i', 'interrupt');
    case '0':
      return chord('0', 'restart');
    case 'a':
      return { action: 'insert-above', pending: null };
    case 'b':
      return { action: 'insert-below', pending: null };
    case 'm':
      return { action: 'to-markdown', pending: null };
    case 'y':
      return { action: 'to-code', pending: null };
    case 'r':
      return { action: 'to-raw', pending: null };
    case 'z':
      return { action: 'undo', pending: null };
    case 'k':
      return { action: 'select-up', pending: null };
    case 'j':
      return { action: 'select-down', pending: null };
    case 'c':
      return { action: 'copy', pending: null };
    case 'x':
      return { action: 'cut', pending: null };
    case 'v':
      return { action: 'paste', pending: null };
    case 'o':
      return { action: 'clear-outputs', pending: null };
    default:
      return { action: null, pending: null };
  }
}

/** Edit mode: only the keys the notebook takes from the editor. */
export function editModeKey(e: KeyInput): NotebookAction | null {
  const mod = e.ctrlKey || e.metaKey;
  if (e.key === 'Escape') return 'command';
  if (e.key === 'Enter' && e.shiftKey) return 'run-advance';
  if (e.key === 'Enter' && mod) return 'run';
  if (e.key === 'Enter' && e.altKey) return 'run-insert';
  if (mod && e.shiftKey && (e.key === '-' || e.key === '_')) return 'split';
  return null;
}
