import { UUID_V7_PATTERN, uuidv7, uuidv7Time } from './uuidv7';

describe('uuidv7', () => {
  it('is a version 7, RFC 4122 variant UUID carrying its millisecond', () => {
    const id = uuidv7(1_700_000_000_123);
    expect(id).toMatch(UUID_V7_PATTERN);
    expect(uuidv7Time(id)).toBe(1_700_000_000_123);
  });

  it('sorts by creation order, also within one millisecond', () => {
    const ids = Array.from({ length: 5000 }, () => uuidv7(1_800_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
