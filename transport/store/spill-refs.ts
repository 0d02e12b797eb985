/**
 * What the store's rows say about the spill (spill.ts): the tables whose payloads may
 * live there, the oldest segment still pointed into (what may be unlinked below it),
 * and, at open, whether the segments the rows point into are there at all.
 *
 * Every read here goes through the partial indexes on spill_segment (schema.ts,
 * migration 3): no table is scanned.
 */
import type Database from 'better-sqlite3';
import { StoreError } from '../errors.js';
import type { Spill } from './spill.js';

const TABLES = ['zmesh_events', 'zmesh_outbox', 'zmesh_dead_letters'] as const;

const eachTable = (db: Database.Database, sql: (table: string) => string, ...args: unknown[]): Array<number | null> =>
  TABLES.map((t) => db.prepare(sql(t)).pluck().get(...args) as number | null);

const defined = (xs: Array<number | null>): number[] => xs.filter((x): x is number => x !== null);

/** The lowest segment any row still points into (undefined: none does). */
export function oldestSpillSegment(db: Database.Database): number | undefined {
  const mins = defined(eachTable(db, (t) => `SELECT min(spill_segment) FROM ${t} WHERE spill_segment IS NOT NULL`));
  return mins.length === 0 ? undefined : Math.min(...mins);
}

/**
 * Refuses a store whose rows point into segments that are not there, or past the end
 * of the newest one (the -spill directory was not copied with the store, or was cut
 * short): StoreError 'corrupt', naming the segment, with nothing changed. Segments go
 * only from the bottom (collect()), so every one from the oldest to the newest
 * referenced must exist.
 */
export function checkSpillRefs(db: Database.Database, spill: Pick<Spill, 'dir' | 'size'>, path: string): void {
  const lo = oldestSpillSegment(db);
  if (lo === undefined) return;
  const hi = Math.max(...defined(eachTable(db, (t) => `SELECT max(spill_segment) FROM ${t} WHERE spill_segment IS NOT NULL`)));
  for (let n = lo; n <= hi; n++) {
    if (spill.size(n) === undefined) {
      throw new StoreError('corrupt', `${path}: rows point into spill segment ${n} of ${spill.dir}, which is missing; restore the -spill directory copied with this store`);
    }
  }
  const end = Math.max(...defined(eachTable(db, (t) => `SELECT max(spill_offset + spill_length) FROM ${t} WHERE spill_segment = ?`, hi)));
  const size = spill.size(hi)!;
  if (end > size) {
    throw new StoreError('corrupt', `${path}: rows point ${end - size} bytes past the end of spill segment ${hi} of ${spill.dir} (${size} bytes); it was cut short: restore it from the copy taken with this store`);
  }
}
