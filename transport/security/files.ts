/**
 * The few file operations that credentials need, each with its trap handled once:
 *
 * - createExclusive: O_EXCL ('wx'), so an existing key is never replaced (replacing it
 *   would orphan every certificate issued for it), then fchmod to exactly `mode`,
 *   because the umask only removes bits (a umask of 0077 would hide a .pub file) and
 *   a 0700 umask would make even a secret file unreadable to its owner.
 * - readPrivate: the mode is checked with fstat on the descriptor that is read, not by
 *   path, so the file checked is the file read.
 * - replaceAtomically: write a temporary file beside the target, then rename over it,
 *   so a reader (or a crash) sees the old or the new content, never half of one.
 *
 * Errors are SecurityError with the caller's problem ('key' unless told).
 */
import { closeSync, fchmodSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { SecurityError, type SecurityProblem } from '../errors.js';

/** Mode bits that give group or others any access. */
const GROUP_OTHER_BITS = 0o077;

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(4, '0');

/** Creates `path` holding `data` with exactly `mode`; refuses when it exists. On a
 *  failed write the file is removed again: a half-written key would block a retry. */
export function createExclusive(path: string, data: string | Uint8Array, mode: number, problem: SecurityProblem = 'key'): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', mode);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'EEXIST' ? 'it exists; refusing to overwrite it' : (err as Error).message;
    throw new SecurityError(problem, `cannot create ${path}: ${why}`, { cause: err });
  }
  try {
    fchmodSync(fd, mode);
    writeFileSync(fd, data);
  } catch (err) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw new SecurityError(problem, `cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
  closeSync(fd);
}

/** Reads a file that must be private to its owner: any group/other bit is refused with
 *  a message naming the file and the fix. */
export function readPrivate(path: string, problem: SecurityProblem = 'key'): Buffer {
  return read(path, problem, (mode) => {
    if ((mode & GROUP_OTHER_BITS) !== 0) {
      throw new SecurityError(problem, `${path} is accessible to group or others (mode ${octal(mode)}); run chmod 600 ${path}`);
    }
  });
}

/** Reads a file with no permission check (public keys, certificates, lists). */
export function readPublic(path: string, problem: SecurityProblem = 'key'): Buffer {
  return read(path, problem, () => undefined);
}

/** Replaces (or creates) `path` with `data` and `mode`, atomically for readers. */
export function replaceAtomically(path: string, data: string | Uint8Array, mode: number, problem: SecurityProblem = 'key'): void {
  const tmp = `${path}.${process.pid}.tmp`;
  createExclusive(tmp, data, mode, problem);
  try {
    // fsync before rename: otherwise a power cut can leave the new name with no data.
    const fd = openSync(tmp, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new SecurityError(problem, `cannot replace ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function read(path: string, problem: SecurityProblem, check: (mode: number) => void): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new SecurityError(problem, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    check(fstatSync(fd).mode);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
