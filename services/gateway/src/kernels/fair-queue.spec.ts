import { FairQueue } from './fair-queue';

const item = (userId: string, n: number) => ({ userId, id: `${userId}${n}` });

describe('FairQueue', () => {
  it('is FIFO for one user', () => {
    const q = new FairQueue<ReturnType<typeof item>>();
    [1, 2, 3].forEach((n) => q.push(item('a', n)));
    expect([q.shift(), q.shift(), q.shift(), q.shift()].map((i) => i?.id)).toEqual([
      'a1',
      'a2',
      'a3',
      undefined,
    ]);
  });

  it('takes turns between users, so a long Run All does not starve a single cell', () => {
    const q = new FairQueue<ReturnType<typeof item>>();
    [1, 2, 3, 4].forEach((n) => q.push(item('a', n)));
    q.push(item('b', 1));
    q.push(item('c', 1));
    q.push(item('b', 2));
    expect(q.toArray().map((i) => i.id)).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3', 'a4']);
    const order: string[] = [];
    let i;
    while ((i = q.shift())) order.push(i.id);
    expect(order).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3', 'a4']);
    expect(q.size).toBe(0);
  });

  it('a user who joins later waits one turn, not behind everything', () => {
    const q = new FairQueue<ReturnType<typeof item>>();
    [1, 2, 3].forEach((n) => q.push(item('a', n)));
    expect(q.shift()!.id).toBe('a1');
    q.push(item('b', 1));
    expect(q.toArray().map((x) => x.id)).toEqual(['a2', 'b1', 'a3']);
  });

  it('removes items and forgets users with nothing left', () => {
    const q = new FairQueue<ReturnType<typeof item>>();
    q.push(item('a', 1));
    q.push(item('b', 1));
    q.push(item('a', 2));
    expect(q.remove((x) => x.userId === 'a').map((x) => x.id)).toEqual(['a1', 'a2']);
    expect(q.toArray().map((x) => x.id)).toEqual(['b1']);
    q.push(item('a', 3));
    expect(q.toArray().map((x) => x.id)).toEqual(['b1', 'a3']);
  });
});
