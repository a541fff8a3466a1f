/** `--name value` / `--name=value` numeric options with defaults. */
export function numberArgs<T extends Record<string, number>>(defaults: T, argv = process.argv.slice(2)): T {
  const out: Record<string, number> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]!);
    const key = m?.[1]?.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (!m || !key || !(key in defaults))
      throw new Error(`unknown option ${argv[i]} (known: ${Object.keys(defaults).join(', ')})`);
    const raw = m[2] ?? argv[++i];
    const v = Number(raw);
    if (!Number.isInteger(v) || v < 0) throw new Error(`--${m[1]} needs a whole number, got ${raw}`);
    out[key] = v;
  }
  return out as T;
}
