/**
 * The directories and files the commands are pointed at (--data, --store, keygen's
 * --out), checked before anything uses them, so that each problem is one line with an
 * error code (exit 1) and never a raw errno, a hang, or a file made where none was
 * asked for.
 *
 * Sharp edges:
 * - A device or FIFO where a file belongs (/dev/zero) reads forever: checkRegularFile.
 * - Node's mkdirSync(dir, { recursive: true }) spins forever at full CPU where mkdir
 *   fails with ENOENT although the parent exists: procfs and sysfs ("--data /proc/x").
 *   makeDirectory creates one level at a time, and tries each level once.
 * - Opening a store with SQLite creates it when it is missing, and even a read may
 *   write beside it (-wal, -shm). So the read-only commands first look at the file
 *   with plain fs calls and refuse when there is no store to read.
 */
import { mkdirSync, statSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { StoreError } from 'zmesh';
import { STORE_FILE } from '../commerce/service.js';

/** How a caller turns a problem into its own typed error. */
export type Fail = (message: string, cause?: unknown) => Error;

const storeError: Fail = (message, cause) => new StoreError('io', message, cause === undefined ? {} : { cause });

/** stat, or undefined when nothing is there (ENOTDIR: a parent is a file). Other
 *  errors, such as EACCES, go to `fail`. */
function statOf(path: string, fail: Fail): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw fail(`cannot look at ${path}: ${(err as Error).message}`, err);
  }
}

/** Creates directory `path` and its missing parents with `mode`; nothing when it is
 *  a directory already. Throws `fail(...)` naming the part that is not a directory or
 *  could not be made. */
export function makeDirectory(path: string, mode: number, fail: Fail): void {
  const dir = resolve(path);
  const st = statOf(dir, fail);
  if (st?.isDirectory() === true) return;
  if (st !== undefined) throw fail(`${dir} is not a directory`);
  // dirname of the root is the root, which exists: this ends within the path's depth.
  makeDirectory(dirname(dir), mode, fail);
  try {
    mkdirSync(dir, { mode });
  } catch (err) {
    throw fail(`cannot create directory ${dir}: ${(err as Error).message}`, err);
  }
}

/** Throws `fail(...)` unless `path` is a regular file of at most `maxBytes`: a device
 *  or FIFO given where a file belongs (/dev/zero as a certificate) would be read
 *  forever, or block. A missing file is left to whoever reads it, which says so. */
export function checkRegularFile(path: string, maxBytes: number, fail: Fail): void {
  const st = statOf(path, fail);
  if (st === undefined) return;
  if (!st.isFile()) throw fail(`${path} is not a regular file`);
  if (st.size > maxBytes) throw fail(`${path} is ${st.size} bytes, more than the ${maxBytes} it may be`);
}

/** A node's data directory, made if missing. StoreError (exit 1) when it cannot be. */
export function makeDataDirectory(dir: string): void {
  makeDirectory(dir, 0o777, (message, cause) => storeError(`data directory: ${message}`, cause));
}

/**
 * The store file that --data DIR or --store FILE names, when there is a zmesh store
 * to read there: a file, not empty, or empty beside a WAL that holds its pages (a node
 * killed before its first checkpoint). StoreError otherwise, having created and
 * changed nothing.
 */
export function existingStore(o: { data?: string; store?: string }): string {
  if (o.data !== undefined) {
    const st = statOf(o.data, storeError);
    if (st === undefined) throw storeError(`no zmesh store in ${o.data}: no such directory`);
    if (!st.isDirectory()) throw storeError(`--data ${o.data} is not a directory (--store FILE names a store file)`);
  }
  const file = o.store ?? join(o.data!, STORE_FILE);
  const st = statOf(file, storeError);
  if (st === undefined) {
    throw storeError(o.store === undefined ? `no zmesh store in ${o.data}: it holds no ${STORE_FILE} (--data names a node's data directory)` : `no zmesh store at ${file}: no such file`);
  }
  if (!st.isFile()) throw storeError(`no zmesh store at ${file}: not a file`);
  if (st.size === 0 && (statOf(`${file}-wal`, storeError)?.size ?? 0) === 0) throw storeError(`no zmesh store at ${file}: the file is empty`);
  return file;
}
