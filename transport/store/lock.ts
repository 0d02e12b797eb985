/**
 * The owner lock: one node at a time uses a store, whether the other one runs in
 * another process or in this one.
 *
 * How: a second SQLite file beside the store, `<store>-lock`, kept in
 * locking_mode=EXCLUSIVE after one write transaction. SQLite holds POSIX advisory
 * locks (fcntl) on it, which the kernel drops when the holding process ends, however
 * it ends (SIGKILL included), and which SQLite also enforces between connections of
 * one process. A killed node therefore never leaves a stale lock, and there is no PID
 * to check. better-sqlite3 is all it takes: Node itself offers no flock or fcntl.
 *
 * Why not the store itself in locking_mode=EXCLUSIVE: that would also shut out
 * `zmesh outbox`, which reads and requeues while the node runs (WAL lets them share).
 * Why not a file holding a PID: after a crash the PID may belong to another process,
 * and taking over a stale file races with the next starter.
 *
 * The lock file is never deleted: unlinking a lock file that another process has open
 * is how two holders happen. It stays a few KiB and holds no data.
 */
import Database from 'better-sqlite3';
import { StoreError, errorMessage } from '../errors.js';

export interface StoreLock {
  readonly path: string;
  /** Releases the lock. Idempotent. */
  release(): void;
}

export function lockStore(storePath: string): StoreLock {
  const path = `${storePath}-lock`;
  let db: Database.Database;
  try {
    // No busy timeout: a held lock is an answer, not something to wait out.
    db = new Database(path, { timeout: 0 });
  } catch (err) {
    throw new StoreError('io', `cannot create the lock file ${path} of store ${storePath}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = MEMORY');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
  } catch (err) {
    db.close();
    const code = (err as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      throw new StoreError('locked', `${storePath} is in use by another node (it holds ${path}); stop that node first, or give this one its own store`, { cause: err });
    }
    throw new StoreError('io', `cannot lock store ${storePath} (${path}): ${errorMessage(err)}`, { cause: err });
  }
  return {
    path,
    release: () => {
      if (db.open) db.close();
    },
  };
}
