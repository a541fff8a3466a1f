import { Readiness } from './readiness';

describe('readiness', () => {
  it('is ready only when every check passes, naming the failing one', async () => {
    const r = new Readiness();
    r.register('postgres', async () => {});
    r.register('kafka', async () => {
      throw new Error('broker unreachable');
    });
    expect(await r.evaluate()).toEqual({
      ready: false,
      checks: { postgres: 'ok', kafka: 'broker unreachable' },
    });
  });

  it('times out a hanging check', async () => {
    const r = new Readiness();
    r.register('s3', () => new Promise(() => {}));
    expect(await r.evaluate(50)).toEqual({ ready: false, checks: { s3: 's3 did not answer in 50 ms' } });
  });

  it('is not ready while draining', async () => {
    const r = new Readiness();
    r.markDraining();
    expect((await r.evaluate()).ready).toBe(false);
  });
});
