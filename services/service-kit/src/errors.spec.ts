import { NotFoundException } from '@nestjs/common';
import { QuireError, toProblem } from './errors';

describe('error taxonomy', () => {
  it('maps a QuireError to problem+json and a WebSocket close code', () => {
    const err = new QuireError(
      'too_large',
      'Notebooks are limited to 50 MB',
      'notebook.too_large',
      new Error('internal detail'),
    );
    expect(toProblem(err, '/api/notebooks/1')).toEqual({
      type: 'https://quire.dev/problems/notebook.too_large',
      title: 'Too large',
      status: 413,
      detail: 'Notebooks are limited to 50 MB',
      code: 'notebook.too_large',
      instance: '/api/notebooks/1',
    });
    expect(err.wsCloseCode).toBe(1009);
  });

  it('never leaks an internal error’s message', () => {
    const p = toProblem(new Error('password=hunter2 at db.internal'));
    expect(p.status).toBe(500);
    expect(JSON.stringify(p)).not.toMatch(/hunter2|db\.internal/);
  });

  it('maps Nest HTTP exceptions by status', () => {
    expect(toProblem(new NotFoundException('Cannot GET /x'))).toMatchObject({
      status: 404,
      code: 'not_found',
    });
  });
});
