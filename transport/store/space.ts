/**
 * Disk space as the store sees it. A write that fails because the store cannot grow is
 * a condition of the node, not of whatever was being written: it must neither count
 * against a message nor look like a handler's fault. StoreSpace wraps every write:
 *
 *   commits                         the alarm, if raised, is cleared (logged at info)
 *   fails for want of space         StoreFullError (retryable, cause kept), the alarm is
 *                                   raised: the `full` flag and a warn, repeated at most
 *                                   once per DISK_FULL_WARN_INTERVAL_MS while it lasts
 *   fails otherwise                 the error as it was
 *
 * "For want of space" is SQLITE_FULL (a write got ENOSPC, or max_page_count), ENOSPC
 * or EDQUOT from a spilled payload's own write, or any
 * SQLITE_IOERR_* while the file system holding the store has less than
 * DISK_FULL_BELOW_BYTES available: SQLite reports ENOSPC from fsync and ftruncate as an
 * I/O error, and better-sqlite3 does not expose errno, so the free space decides.
 *
 * Nothing here polls: space is known to be back when a write commits again, which the
 * reliable class's own retries make happen.
 */
import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { StoreFullError } from '../errors.js';
import type { StoreStats } from '../types.js';

/** Below this much free space, an I/O error of the store counts as disk full. */
export const DISK_FULL_BELOW_BYTES = 1024 * 1024;
/** While the disk stays full, the warning is repeated at most this often. */
export const DISK_FULL_WARN_INTERVAL_MS = 10_000;

export class StoreSpace {
  private fullSinceMs: number | undefined;
  private lastWarnMs = 0;
  private suppressed = 0;
  private errors = 0;

  constructor(
    private readonly path: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  get full(): boolean {
    return this.fullSinceMs !== undefined;
  }

  stats(): StoreStats {
    return { diskFull: this.full, diskFullErrors: this.errors };
  }

  /** Runs a write (a whole transaction). Throws StoreFullError when it failed for want
   *  of space, or whatever else it threw. */
  write<T>(f: () => T): T {
    let result: T;
    try {
      result = f();
    } catch (err) {
      throw this.classify(err);
    }
    if (this.fullSinceMs !== undefined) this.recovered();
    return result;
  }

  /** A failed write: its StoreFullError (the alarm raised), or the error unchanged. */
  classify(err: unknown): unknown {
    if (err instanceof StoreFullError) return err; // a nested write already said so
    // A spilled payload (spill.ts) is written with fs, which says ENOSPC itself.
    const code = fsFull(err) ? 'SQLITE_FULL' : sqliteCode(err);
    if (code === undefined || (code !== 'SQLITE_FULL' && !code.startsWith('SQLITE_IOERR'))) return err;
    const free = freeBytes(this.path);
    if (code !== 'SQLITE_FULL' && (free === undefined || free >= DISK_FULL_BELOW_BYTES)) return err;
    this.raise(code, free);
    return new StoreFullError('the store of this node is full (no disk space); nothing was written', { cause: err });
  }

  private raise(code: string, free: number | undefined): void {
    this.errors++;
    const now = this.now();
    const first = this.fullSinceMs === undefined;
    this.fullSinceMs ??= now;
    if (!first && now - this.lastWarnMs < DISK_FULL_WARN_INTERVAL_MS) {
      this.suppressed++;
      return;
    }
    this.log.warn({ store: this.path, code, freeBytes: free, fullForMs: now - this.fullSinceMs, failedWrites: this.errors, suppressed: this.suppressed },
      'store is full: writes fail for want of disk space; reliable deliveries are held until space returns');
    this.lastWarnMs = now;
    this.suppressed = 0;
  }

  private recovered(): void {
    this.log.info({ store: this.path, fullForMs: this.now() - this.fullSinceMs!, failedWrites: this.errors }, 'store has room again: writes commit');
    this.fullSinceMs = undefined;
    this.suppressed = 0;
  }
}

/** The SQLite result code of an error, or of what it wraps (handlers may wrap). */
function sqliteCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++, e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_')) return code;
  }
  return undefined;
}

function fsFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function freeBytes(path: string): number | undefined {
  try {
    const s = statfsSync(dirname(path));
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}
