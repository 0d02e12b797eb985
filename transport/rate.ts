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

  /** Spends one token of `key`'s bucket; false (and nothing spent) when it is empty. */
  take(key: string): boolean {
    const now = this.nowMs();
    const b = this.buckets.get(key) ?? { tokens: this.burst, atMs: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.atMs) * this.perSecond) / 1000);
    b.atMs = now;
    // Most recently used last, so the first key is the one to forget.
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
