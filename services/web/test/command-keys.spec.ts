import { commandModeKey, editModeKey, type KeyInput } from '../src/notebook/command-keys';

const key = (k: string, mods: Partial<KeyInput> = {}): KeyInput => ({
  key: k,
  shiftKey: false,
  ctrlKey: false,
  metaKey: false,
  altKey: false,
  ...mods,
});

describe('command-mode keys', () => {
  it('maps the single keys', () => {
    expect(commandModeKey(key('a'), null).action).toBe('insert-above');
    expect(commandModeKey(key('b'), null).action).toBe('insert-below');
    expect(commandModeKey(key('m'), null).action).toBe('to-markdown');
    expect(commandModeKey(key('y'), null).action).toBe('to-code');
    expect(commandModeKey(key('z'), null).action).toBe('undo');
    expect(commandModeKey(key('Enter'), null).action).toBe('edit');
    expect(commandModeKey(key('Enter', { shiftKey: true }), null).action).toBe('run-advance');
    expect(commandModeKey(key('Enter', { ctrlKey: true }), null).action).toBe('run');
    expect(commandModeKey(key('M', { shiftKey: true }), null).action).toBe('merge-below');
  });

  it('needs D twice to delete', () => {
    const first = commandModeKey(key('d'), null);
    expect(first).toEqual({ action: null, pending: 'd' });
    expect(commandModeKey(key('d'), first.pending)).toEqual({ action: 'delete', pending: null });
    // Another key in between breaks the chord.
    const broken = commandModeKey(key('j'), first.pending);
    expect(commandModeKey(key('d'), broken.pending).action).toBeNull();
  });

  it('leaves browser shortcuts alone', () => {
    expect(commandModeKey(key('c', { ctrlKey: true }), null).action).toBeNull();
  });
});

describe('edit-mode keys', () => {
  it('takes only the notebook keys', () => {
    expect(editModeKey(key('Escape'))).toBe('command');
    expect(editModeKey(key('Enter', { shiftKey: true }))).toBe('run-advance');
    expect(editModeKey(key('Enter', { metaKey: true }))).toBe('run');
    expect(editModeKey(key('-', { ctrlKey: true, shiftKey: true }))).toBe('split');
    expect(editModeKey(key('a'))).toBeNull();
    expect(editModeKey(key('Enter'))).toBeNull();
  });
});
