import { lifecycleReasonToShow } from './kernel-status-feed';
import { RESTORING_PROGRESS } from './lifecycle-kernel-provider';

describe('kernel status feed: lifecycle events on the status bar', () => {
  it('shows a restore in words for people, not the workflow’s snapshot and host ids', () => {
    expect(
      lifecycleReasonToShow('RESTORE', 'restore s-0192 on host-a', { state: 'hibernated', since: 'x' }),
    ).toBe(RESTORING_PROGRESS);
    expect(lifecycleReasonToShow('COLD_BOOT', 'cold boot', { state: 'starting', progress: '' })).toBe(
      'booting a new kernel',
    );
  });

  it('ignores a start or restore that arrives after the cell already runs on the kernel', () => {
    for (const to of ['RESTORE', 'PROVISION', 'COLD_BOOT'] as const)
      expect(lifecycleReasonToShow(to, 'late', { state: 'busy' })).toBeNull();
  });

  it('passes everything else through with the workflow’s reason', () => {
    expect(lifecycleReasonToShow('HIBERNATED', 'idle', { state: 'idle' })).toBe('idle');
    expect(lifecycleReasonToShow('DEAD', 'host_lost', { state: 'busy' })).toBe('host_lost');
    expect(lifecycleReasonToShow('RUNNING', 'restored', { state: 'busy' })).toBe('restored');
    expect(lifecycleReasonToShow('RESTORE', 'restore s-1 on h', { state: 'idle' })).toBe(RESTORING_PROGRESS);
  });
});
