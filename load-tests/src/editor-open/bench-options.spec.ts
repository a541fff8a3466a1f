import { parseEditorOpenArgs } from './bench-options';

describe('editor-open options', () => {
  it('defaults to the JupyterLab peer and 30 + 30 loads of a 200-cell notebook', () => {
    expect(parseEditorOpenArgs([])).toEqual({ peer: 'jupyterlab', loads: 30, warmLoads: 30, cells: 200 });
  });

  it('takes --peer in both spellings next to the numeric knobs', () => {
    expect(parseEditorOpenArgs(['--loads', '5', '--peer', 'none', '--warm-loads=4'])).toEqual({
      peer: 'none',
      loads: 5,
      warmLoads: 4,
      cells: 200,
    });
    expect(parseEditorOpenArgs(['--peer=jupyterlab', '--cells', '50']).peer).toBe('jupyterlab');
  });

  it('refuses an unknown peer, a missing value, an unknown option and a notebook too small to time', () => {
    expect(() => parseEditorOpenArgs(['--peer', 'vscode'])).toThrow(
      '--peer must be one of jupyterlab, none, got vscode',
    );
    expect(() => parseEditorOpenArgs(['--peer'])).toThrow('got nothing');
    expect(() => parseEditorOpenArgs(['--lods', '5'])).toThrow('unknown option --lods');
    expect(() => parseEditorOpenArgs(['--cells', '1'])).toThrow('--cells needs at least 2');
  });
});
