/**
 * The Python the inspect_variables tool runs in the notebook's kernel: names,
 * types, shapes and sizes of the user's variables; for pandas DataFrames the
 * head and dtypes. It reads only; it defines one helper and deletes it again.
 * Nothing of the platform (keys, tokens) is in it or reachable from it.
 */
export function inspectSnippet(names: string[] | null): string {
  const wanted =
    names && names.length ? JSON.stringify(names.filter((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n))) : 'None';
  return `def __quire_inspect(wanted):
    import types
    skip = {'In', 'Out', 'exit', 'quit', 'get_ipython'}
    lines = []
    for name, value in list(globals().items()):
        if wanted is not None and name not in wanted:
            continue
        if wanted is None and (name.startswith('_') or name in skip or isinstance(value, (types.ModuleType, types.FunctionType, type))):
            continue
        kind = type(value).__module__ + '.' + type(value).__qualname__
        kind = kind.replace('builtins.', '')
        line = name + ': ' + kind
        shape = getattr(value, 'shape', None)
        if shape is not None:
            line += ' shape=' + str(tuple(shape))
        elif hasattr(value, '__len__') and not isinstance(value, str):
            try:
                line += ' len=' + str(len(value))
            except Exception:
                pass
        dtype = getattr(value, 'dtype', None)
        if dtype is not None and not hasattr(value, 'columns'):
            line += ' dtype=' + str(dtype)
        if hasattr(value, 'columns') and hasattr(value, 'dtypes') and hasattr(value, 'head'):
            line += '\\n  dtypes: ' + ', '.join(str(c) + '=' + str(t) for c, t in value.dtypes.items())
            line += '\\n  head:\\n' + '\\n'.join('    ' + l for l in value.head(5).to_string().split('\\n'))
        elif shape is None:
            r = repr(value)
            line += ' = ' + (r if len(r) <= 80 else r[:77] + '...')
        lines.append(line)
    print('\\n'.join(lines) if lines else '(no variables)')
__quire_inspect(${wanted})
del __quire_inspect`;
}
