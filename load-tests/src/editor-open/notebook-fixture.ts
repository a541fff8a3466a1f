/**
 * A 200-cell notebook shaped like real work: alternating markdown and code
 * cells of 3–15 lines, a third of the code cells with a stream output, some
 * with a small table repr. Deterministic (seeded), so runs compare.
 */
export function bigNotebook(cells = 200): {
  nbformat: 4;
  nbformat_minor: 5;
  metadata: object;
  cells: object[];
} {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const out: object[] = [];
  for (let i = 0; i < cells; i++) {
    const id = `cell-${i.toString().padStart(4, '0')}`;
    if (i % 4 === 0) {
      out.push({
        id,
        cell_type: 'markdown',
        metadata: {},
        source: `## Step ${i / 4 + 1}\n\nWe look at the **${['sales', 'latency', 'churn', 'usage'][i % 4]}** data and check the assumptions before the next cell.\n`,
      });
      continue;
    }
    const lines = 3 + Math.floor(rand() * 12);
    const source = Array.from({ length: lines }, (_, l) =>
      l === 0
        ? `# cell ${i}: transform`
        : `df_${i}_${l} = df.groupby("key_${l % 5}")["value"].agg(["mean", "max"]).reset_index()  # ${Math.floor(rand() * 1e6)}`,
    ).join('\n');
    const outputs =
      i % 3 === 0
        ? [
            {
              output_type: 'stream',
              name: 'stdout',
              text: Array.from({ length: 8 }, (_, k) => `row ${k}: ${Math.floor(rand() * 1e6)}\n`).join(''),
            },
          ]
        : i % 7 === 0
          ? [
              {
                output_type: 'execute_result',
                execution_count: i,
                metadata: {},
                data: { 'text/plain': `   key   mean    max\n0    a   1.25   3.00\n1    b   2.50   4.00\n` },
              },
            ]
          : [];
    out.push({
      id,
      cell_type: 'code',
      metadata: {},
      execution_count: outputs.length ? i : null,
      source,
      outputs,
    });
  }
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
    cells: out,
  };
}
