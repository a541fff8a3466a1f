/**
 * The run queue of one kernel: FIFO per user, round-robin between users, so
 * one person's "Run All" of 200 cells does not make a collaborator's single
 * cell wait behind all of it.
 */
export class FairQueue<T extends { userId: string }> {
  private readonly perUser = new Map<string, T[]>();
  /** Users with waiting items, in the order they are served next. */
  private readonly turn: string[] = [];

  get size(): number {
    let n = 0;
    for (const items of this.perUser.values()) n += items.length;
    return n;
  }

  push(item: T): void {
    const items = this.perUser.get(item.userId);
    if (items) items.push(item);
    else {
      this.perUser.set(item.userId, [item]);
      this.turn.push(item.userId);
    }
  }

  shift(): T | undefined {
    const user = this.turn.shift();
    if (user === undefined) return undefined;
    const items = this.perUser.get(user)!;
    const item = items.shift()!;
    if (items.length) this.turn.push(user);
    else this.perUser.delete(user);
    return item;
  }

  /** Removes and returns the items matching `pred`. */
  remove(pred: (item: T) => boolean): T[] {
    const removed: T[] = [];
    for (const [user, items] of [...this.perUser]) {
      const keep = items.filter((i) => !(pred(i) && removed.push(i)));
      if (keep.length) this.perUser.set(user, keep);
      else {
        this.perUser.delete(user);
        this.turn.splice(this.turn.indexOf(user), 1);
      }
    }
    return removed;
  }

  /** Everything waiting, in the order it will run. */
  toArray(): T[] {
    const cursors = new Map([...this.perUser].map(([u, items]) => [u, [...items]]));
    const turn = [...this.turn];
    const out: T[] = [];
    while (turn.length) {
      const user = turn.shift()!;
      const items = cursors.get(user)!;
      out.push(items.shift()!);
      if (items.length) turn.push(user);
    }
    return out;
  }
}
