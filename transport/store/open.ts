/**
 * Opens (or creates) a node's SQLite store. One file per node holds the outbox, the
 * inbox and the service's own tables, so that a state change and the messages it
 * causes commit together.
 *
 * Durability: WAL journal with synchronous=FULL, so a committed transaction survives
 * power loss; a resolved reliable send means its transaction committed.
 *
 * A file that is not ours, is newer than this code, is corrupt or is locked gives a
 * StoreError and is never modified, let alone deleted.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreError, errorMessage } from '../errors.js';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './schema.js';

export type Db = Database.Database;

export interface OpenedStore {
  db: Db;
  /** Random id made when the store was created; names this node's streams for good. */
  storeId: string;
  path: string;
}

const BUSY_TIMEOUT_MS = 2_000;

function classify(err: unknown, path: string): StoreError {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') return new StoreError('corrupt', `${path} is not a readable SQLite database (${code}); it was left untouched`, { cause: err });
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return new StoreError('locked', `${path} is locked by another process`, { cause: err });
  return new StoreError('io', `cannot open store ${path}: ${errorMessage(err)}`, { cause: err });
}

export function openStore(path: string, options: { readonly?: boolean } = {}): OpenedStore {
  const existed = existsSync(path) && statSync(path).size > 0;
  if (options.readonly && !existed) throw new StoreError('io', `no store at ${path}`);
  let db: Db;
  try {
    db = new Database(path, { readonly: options.readonly === true, fileMustExist: options.readonly === true, timeout: BUSY_TIMEOUT_MS });
  } catch (err) {
    throw classify(err, path);
  }
  try {
    const appId = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n;
    if (appId !== APPLICATION_ID && (appId !== 0 || tables > 0)) {
      throw new StoreError('foreign', `${path} is not a zmesh store (application_id ${appId}, ${tables} tables); it was left untouched`);
    }
    if (version > SCHEMA_VERSION) {
      throw new StoreError('newer', `${path} has schema version ${version}, this zmesh knows up to ${SCHEMA_VERSION}; upgrade zmesh`);
    }
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      const migrate = db.transaction(() => {
        for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
        db.pragma(`application_id = ${APPLICATION_ID}`);
        db.prepare("INSERT OR IGNORE INTO zmesh_meta (key, value) VALUES ('store_id', ?), ('created_ms', ?)")
          .run(randomBytes(8).toString('hex'), String(Date.now()));
      });
      if (version < SCHEMA_VERSION) migrate.immediate();
    } else if (version < SCHEMA_VERSION) {
      throw new StoreError('newer', `${path} has schema version ${version}; open it once with a node to migrate`);
    }
    const row = db.prepare("SELECT value FROM zmesh_meta WHERE key = 'store_id'").get() as { value: string } | undefined;
    if (row === undefined) throw new StoreError('corrupt', `${path} has no store id`);
    return { db, storeId: row.value, path };
  } catch (err) {
    db.close();
    throw err instanceof StoreError ? err : classify(err, path);
  }
}
