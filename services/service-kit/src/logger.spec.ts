import { JsonLogger } from './logger';

describe('JsonLogger', () => {
  it('writes one JSON object per line with level, service and fields, honouring the level', () => {
    const lines: string[] = [];
    const log = new JsonLogger('gateway', 'info', (l) => lines.push(l));
    log.debug('hidden');
    log.info('kernel started', { kernelId: 'k1' });
    log.log('from nest', 'RoutesResolver');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'info',
      service: 'gateway',
      msg: 'kernel started',
      kernelId: 'k1',
    });
    expect(JSON.parse(lines[1]!)).toMatchObject({ msg: 'from nest', context: 'RoutesResolver' });
  });
});
