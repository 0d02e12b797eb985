/**
 * The application's own tables in a node's store: the `migrations` option. openStore
 * applies them after zmesh's own migrations, and the node binds no socket before
 * openStore returns, so no handler can ever meet a store without its tables.
 *
 * Steps are append-only, like zmesh's (schema.ts): step N is what every store at
 * version N ran, so a shipped step is never edited, only followed by new ones. The
 * version lives in zmesh_meta ('app_version'), apart from PRAGMA user_version (zmesh's
 * own), so the two never get in each other's way.
 *
 *   recorded version v, steps given n
 *   v == n   nothing to do; nothing is written
 *   v <  n   steps v+1..n run in ONE immediate transaction, then v := n. A step that
 *            throws (bad SQL, a constraint, a function step that throws or returns a
 *            promise) rolls back every step of this start: the store stays at v, and
 *            the error is STORE 'migration', naming the step and its cause
 *   v >  n   newer code ran on this store: STORE 'newer'; nothing is written
 *
 * openStore calls this only when steps are given: operator tools that open a store
 * beside its node (`zmesh outbox`) and nodes that do not use the option leave the
 * application's version alone.
 */
import { StoreError, errorMessage } from '../errors.js';
import type { Database, Migration } from '../types.js';

const VERSION_KEY = 'app_version';

/** The application version recorded in the store (0: no step ever ran). */
export function appVersion(db: Database): number {
  const row = db.prepare('SELECT value FROM zmesh_meta WHERE key = ?').get(VERSION_KEY) as { value: string } | undefined;
  return row === undefined ? 0 : Number(row.value);
}

/** Brings the store's application tables to `steps.length` (table above). */
export function applyAppMigrations(db: Database, path: string, steps: readonly Migration[]): void {
  const from = appVersion(db);
  if (!Number.isSafeInteger(from) || from < 0) throw new StoreError('corrupt', `${path}: zmesh_meta holds a bad ${VERSION_KEY}; it was left as it is`);
  if (from > steps.length) {
    throw new StoreError('newer', `${path}: the application tables are at migration ${from}, this code has ${steps.length} migration step(s); run the newer code, or append the missing steps`);
  }
  if (from === steps.length) return;
  const run = db.transaction(() => {
    for (let v = from; v < steps.length; v++) {
      try {
        runStep(db, steps[v]!);
      } catch (err) {
        throw new StoreError('migration', `${path}: migration step ${v + 1} of ${steps.length} failed: ${errorMessage(err)}; nothing of this start's steps was kept, the store stays at step ${from}`, { cause: err });
      }
    }
    db.prepare('INSERT INTO zmesh_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
      .run(VERSION_KEY, String(steps.length));
  });
  run.immediate();
}

function runStep(db: Database, step: Migration): void {
  if (typeof step === 'string') {
    db.exec(step);
    return;
  }
  const result: unknown = step(db);
  // A promise would finish after the transaction committed, outside it.
  if (typeof (result as { then?: unknown } | undefined)?.then === 'function') {
    throw new Error('the step returned a promise: a step runs inside one transaction and must be synchronous');
  }
}
