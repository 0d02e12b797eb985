/**
 * Token buckets, one per key (an asker's fingerprint, a node id), for costs one peer
 * may impose at a bounded rate. The map of keys is bounded too: keys come from peers,
 * and a bucket forgotten is simply full again, which only ever errs toward serving.
 */
export class KeyedBudget {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxKeys: number,
    private readonly nowMs: () => number,
  ) {}

  /** Whether `key` has budget left now (its bucket is above zero). */
  allows(key: string): boolean {
    return this.bucket(key).tokens > 0;
  }

  /** Spends `cost` of `key`'s budget. It may go below zero (a cost known only after
   *  the work): then `allows` is false until the debt is paid back by time. */
  spend(key: string, cost: number): void {
    this.bucket(key).tokens -= cost;
  }

  private bucket(key: string): { tokens: number; atMs: number } {
    const now = this.nowMs();
    const b = this.buckets.get(key) ?? { tokens: this.burst, atMs: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.atMs) * this.perSecond) / 1000);
    b.atMs = now;
    // Most recently used last, so the first key is the one to forget.
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    return b;
  }
}
