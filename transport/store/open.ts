/**
 * Opens (or creates) a node's SQLite store. One file per node holds the outbox, the
 * inbox and the service's own tables, so that a state change and the messages it
 * causes commit together.
 *
 * Durability: WAL journal with synchronous=FULL by default, so a committed
 * transaction survives power loss; a resolved reliable send means its transaction
 * committed. `durability: 'os'` opens with synchronous=NORMAL instead: in WAL mode a
 * commit then skips its fsync and survives a process crash but not power loss (the
 * WAL is synced at checkpoints, so the file is never corrupted, only missing its
 * last commits).
 *
 * In order, each step refusing with a StoreError before the next one runs:
 *   1. the owner lock (lock.ts)                       'locked': another node uses it
 *   2. its bytes, read with fs only (inspect.ts)      'foreign' / 'corrupt' / 'newer'
 *   3. SQLite opens it read-write; PRAGMA quick_check 'corrupt'
 *   4. migrations to SCHEMA_VERSION
 *   5. the application's migrations (app-schema.ts)   'migration' / 'newer'
 *   6. every spill segment the rows point into exists  'corrupt'
 *      (spill-refs.ts), and the newest is long enough
 * A file refused at 1 or 2 is not written at all, not even a -wal or -shm file beside
 * it. A refused store of ours is not repaired or deleted either; SQLite alone may
 * checkpoint committed WAL frames into it when the connection closes.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { StoreError, errorMessage } from '../errors.js';
import { silentLogger } from '../log.js';
import type { Durability, Migration } from '../types.js';
import { applyAppMigrations } from './app-schema.js';
import { beforeCommit } from './before-commit.js';
import { inspectStore } from './inspect.js';
import { lockStore, type StoreLock } from './lock.js';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import { StoreSpace } from './space.js';
import { Spill } from './spill.js';
import { checkSpillRefs } from './spill-refs.js';
import { WalSync } from './wal-sync.js';

export type Db = Database.Database;

export interface OpenedStore {
  db: Db;
  /** Random id made when the store was created; names this node's streams for good. */
  storeId: string;
  path: string;
  /** Every write of the store goes through space.write: disk full is told apart there. */
  space: StoreSpace;
  /** Large payloads, in segment files beside the database (spill.ts); what they
   *  appended is synced before any transaction of `db` commits. */
  spill: Spill;
  /** Commits whose fsync runs off the event loop (wal-sync.ts). */
  walSync: WalSync;
  /** Closes the database, then releases the owner lock. Idempotent. */
  close(): void;
}

export interface OpenOptions {
  /** Take the owner lock (default true). Only operator tools that work beside a
   *  running node (`zmesh outbox`) open without it. */
  lock?: boolean;
  /** For the disk-full alarm. Default: silent. */
  log?: Logger;
  /** 'full' (default): synchronous=FULL; 'os': synchronous=NORMAL (see above). */
  durability?: Durability;
  /** The application's migration steps (app-schema.ts), applied after zmesh's own. */
  migrations?: readonly Migration[];
}

const BUSY_TIMEOUT_MS = 2_000;
/** quick_check stops after this many problems; the first few name the damage. */
const QUICK_CHECK_MAX_ERRORS = 5;

/**
 * Store files this process has open through openStore, by device and inode, with how
 * many connections. Process-wide on purpose: POSIX locks belong to the process, and
 * reading such a file with fs (inspect.ts) would drop SQLite's locks on it. A file
 * listed here was inspected when it was first opened.
 */
const openHere = new Map<string, number>();

function classify(err: unknown, path: string): StoreError {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return new StoreError('corrupt', `${path} is not a readable SQLite database (${code}); it was left as it is`, { cause: err });
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return new StoreError('locked', `${path} is locked by another process`, { cause: err });
  if (code === 'SQLITE_FULL') return new StoreError('io', `cannot open store ${path}: no disk space left`, { cause: err });
  return new StoreError('io', `cannot open store ${path}: ${errorMessage(err)}`, { cause: err });
}

export function openStore(path: string, options: OpenOptions = {}): OpenedStore {
  const lock: StoreLock | undefined = options.lock === false ? undefined : lockStore(path);
  try {
    if (!openHere.has(fileKey(path) ?? '')) judge(path);
    const { db, storeId } = openChecked(path, options.durability ?? 'full', options.migrations ?? []);
    let spill: Spill;
    try {
      spill = new Spill(path, options.durability ?? 'full');
      // Step 6: the large payloads the rows point at are there.
      checkSpillRefs(db, spill, path);
    } catch (err) {
      db.close();
      throw err instanceof StoreError ? err : classify(err, path);
    }
    beforeCommit(db, () => spill.sync());
    const log = options.log ?? silentLogger();
    const walSync = new WalSync(db, `${path}-wal`, options.durability ?? 'full', (err) => log.error({ err }, 'a callback after the WAL fsync threw'));
    const key = fileKey(path)!;
    openHere.set(key, (openHere.get(key) ?? 0) + 1);
    let closed = false;
    return {
      db, storeId, path, spill, walSync,
      space: new StoreSpace(path, log),
      close: () => {
        if (closed) return;
        closed = true;
        try {
          // What waits for its fsync gets it now, before the WAL may go away.
          walSync.close();
          spill.close();
          if (db.open) db.close();
        } finally {
          const n = (openHere.get(key) ?? 1) - 1;
          if (n === 0) openHere.delete(key);
          else openHere.set(key, n);
          lock?.release();
        }
      },
    };
  } catch (err) {
    lock?.release();
    throw err;
  }
}

/** Step 2: refuses what is not ours from its bytes alone. */
function judge(path: string): void {
  let verdict;
  try {
    verdict = inspectStore(path);
  } catch (err) {
    throw new StoreError('io', `cannot read store ${path}: ${errorMessage(err)}`, { cause: err });
  }
  if (verdict.is === 'foreign') throw new StoreError('foreign', `${path} is not a zmesh store (${verdict.detail}); it was left untouched`);
  if (verdict.is === 'notSqlite') throw new StoreError('corrupt', `${path} is not a SQLite database (${verdict.detail}); it was left untouched`);
  if (verdict.is === 'ours' && verdict.userVersion > SCHEMA_VERSION) throw newer(path, verdict.userVersion);
}

/** Steps 3 to 5. */
function openChecked(path: string, durability: Durability, appSteps: readonly Migration[]): { db: Db; storeId: string } {
  let db: Db;
  try {
    db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
  } catch (err) {
    throw classify(err, path);
  }
  try {
    const appId = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    // Every kind of schema object: a file holding only a view is somebody's too.
    const objects = (db.prepare('SELECT count(*) AS n FROM sqlite_master').get() as { n: number }).n;
    if (appId !== APPLICATION_ID && (appId !== 0 || objects > 0)) {
      throw new StoreError('foreign', `${path} is not a zmesh store (application_id ${appId}, ${objects} schema objects)`);
    }
    if (version > SCHEMA_VERSION) throw newer(path, version);
    checkIntegrity(db, path);
    db.pragma('journal_mode = WAL');
    db.pragma(durability === 'os' ? 'synchronous = NORMAL' : 'synchronous = FULL');
    db.pragma('foreign_keys = ON');
    const migrate = db.transaction(() => {
      for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.prepare("INSERT OR IGNORE INTO zmesh_meta (key, value) VALUES ('store_id', ?), ('created_ms', ?)")
        .run(randomBytes(8).toString('hex'), String(Date.now()));
    });
    if (version < SCHEMA_VERSION) migrate.immediate();
    const row = db.prepare("SELECT value FROM zmesh_meta WHERE key = 'store_id'").get() as { value: string } | undefined;
    if (row === undefined) throw new StoreError('corrupt', `${path} has no store id`);
    // Without steps (operator tools, a node that does not use the option) the
    // application's version is neither checked nor changed.
    if (appSteps.length > 0) applyAppMigrations(db, path, appSteps);
    return { db, storeId: row.value };
  } catch (err) {
    db.close();
    throw err instanceof StoreError ? err : classify(err, path);
  }
}

/** PRAGMA quick_check reads every page (it skips only matching indexes against their
 *  tables), so start takes longer as the store grows. A store that fails it is
 *  refused, never repaired: which rows a repair keeps is not a node's decision. */
function checkIntegrity(db: Db, path: string): void {
  let problems: string[];
  try {
    problems = (db.pragma(`quick_check(${QUICK_CHECK_MAX_ERRORS})`) as Array<{ quick_check: string }>).map((r) => r.quick_check);
  } catch (err) {
    // Damage bad enough that the check itself cannot go on.
    problems = [`${(err as { code?: string }).code ?? 'error'}: ${errorMessage(err)}`];
  }
  if (problems.length === 1 && problems[0] === 'ok') return;
  throw new StoreError('corrupt', `${path} failed its integrity check (PRAGMA quick_check: ${problems.join('; ')}); it was left as it is: restore it from a backup or move it aside`);
}

function newer(path: string, version: number): StoreError {
  return new StoreError('newer', `${path} has schema version ${version}, this zmesh knows up to ${SCHEMA_VERSION}; upgrade zmesh`);
}

function fileKey(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}
