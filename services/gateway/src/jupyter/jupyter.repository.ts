import type { Pool } from 'pg';

export interface JupyterKernelRow {
  id: string;
  orgId: string;
  userId: string;
  name: string;
  createdAt: string;
}

export interface JupyterSessionRow {
  id: string;
  kernelId: string;
  orgId: string;
  userId: string;
  path: string;
  name: string;
  type: string;
}

/** Kernels and sessions created through the Jupyter Server–compatible API. */
export class JupyterRepository {
  constructor(private readonly pg: Pool) {}

  async insertKernel(k: {
    id: string;
    orgId: string;
    userId: string;
    name: string;
  }): Promise<JupyterKernelRow> {
    const r = await this.pg.query(
      'INSERT INTO gateway.jupyter_kernels (id, org_id, user_id, name) VALUES ($1, $2, $3, $4) RETURNING *',
      [k.id, k.orgId, k.userId, k.name],
    );
    return kernel(r.rows[0]);
  }

  async kernel(id: string): Promise<JupyterKernelRow | null> {
    const r = await this.pg.query('SELECT * FROM gateway.jupyter_kernels WHERE id = $1', [id]);
    return r.rows[0] ? kernel(r.rows[0]) : null;
  }

  async kernelsOf(orgId: string, userId: string): Promise<JupyterKernelRow[]> {
    const r = await this.pg.query(
      'SELECT * FROM gateway.jupyter_kernels WHERE org_id = $1 AND user_id = $2 ORDER BY created_at',
      [orgId, userId],
    );
    return r.rows.map(kernel);
  }

  async deleteKernel(id: string): Promise<void> {
    await this.pg.query('DELETE FROM gateway.jupyter_kernels WHERE id = $1', [id]);
  }

  async insertSession(s: JupyterSessionRow): Promise<JupyterSessionRow> {
    await this.pg.query(
      `INSERT INTO gateway.jupyter_sessions (id, kernel_id, org_id, user_id, path, name, type)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [s.id, s.kernelId, s.orgId, s.userId, s.path, s.name, s.type],
    );
    return s;
  }

  async session(id: string): Promise<JupyterSessionRow | null> {
    const r = await this.pg.query('SELECT * FROM gateway.jupyter_sessions WHERE id = $1', [id]);
    return r.rows[0] ? session(r.rows[0]) : null;
  }

  async sessionsOf(orgId: string, userId: string): Promise<JupyterSessionRow[]> {
    const r = await this.pg.query(
      'SELECT * FROM gateway.jupyter_sessions WHERE org_id = $1 AND user_id = $2 ORDER BY created_at',
      [orgId, userId],
    );
    return r.rows.map(session);
  }

  async updateSession(
    id: string,
    patch: Partial<Pick<JupyterSessionRow, 'path' | 'name' | 'type' | 'kernelId'>>,
  ) {
    await this.pg.query(
      `UPDATE gateway.jupyter_sessions SET path = COALESCE($2, path), name = COALESCE($3, name),
              type = COALESCE($4, type), kernel_id = COALESCE($5, kernel_id) WHERE id = $1`,
      [id, patch.path ?? null, patch.name ?? null, patch.type ?? null, patch.kernelId ?? null],
    );
  }

  async deleteSession(id: string): Promise<void> {
    await this.pg.query('DELETE FROM gateway.jupyter_sessions WHERE id = $1', [id]);
  }
}

function kernel(row: Record<string, unknown>): JupyterKernelRow {
  return {
    id: row.id as string,
    orgId: row.org_id as string,
    userId: row.user_id as string,
    name: row.name as string,
    createdAt: (row.created_at as Date).toISOString(),
  };
}

function session(row: Record<string, unknown>): JupyterSessionRow {
  return {
    id: row.id as string,
    kernelId: row.kernel_id as string,
    orgId: row.org_id as string,
    userId: row.user_id as string,
    path: row.path as string,
    name: row.name as string,
    type: row.type as string,
  };
}
