/**
 * The few file operations that credentials need, each with its trap handled once:
 *
 * - createExclusive: O_EXCL ('wx'), so an existing key is never replaced (replacing it
 *   would orphan every certificate issued for it), then fchmod to exactly `mode`,
 *   because the umask only removes bits (a umask of 0077 would hide a .pub file) and
 *   a 0700 umask would make even a secret file unreadable to its owner.
 * - readPrivate: the mode is checked with fstat on the descriptor that is read, not by
 *   path, so the file checked is the file read. Every read takes regular files only:
 *   /dev/zero named as a key or certificate would be read forever.
 * - replaceAtomically: write a temporary file beside the target, then rename over it,
 *   so a reader (or a crash) sees the old or the new content, never half of one.
 * - makeDirectory: mkdir -p one level at a time. Node's mkdirSync(dir, { recursive })
 *   spins forever at full CPU where mkdir fails with ENOENT although the parent exists
 *   (procfs, sysfs: "/proc/x"); here each level is tried once.
 *
 * Errors are SecurityError with the caller's problem ('key' unless told).
 */
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SecurityError, type SecurityProblem } from '../errors.js';

/** Mode bits that give group or others any access. */
const GROUP_OTHER_BITS = 0o077;
/** Credential files are small (the largest, a revocation list, is at most 1 MiB): a
 *  bigger one is a wrong path, and reading it whole would only cost memory. */
const MAX_READ_BYTES = 2 * 1024 * 1024;

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

/** Creates directory `path` with `mode` (through the umask), and its missing parents.
 *  True when `path` itself was created here, false when it was a directory already.
 *  SecurityError when a part of it is not a directory or cannot be created. */
export function makeDirectory(path: string, mode: number, problem: SecurityProblem = 'config'): boolean {
  const dir = resolve(path);
  let kind: 'directory' | 'other' | 'missing';
  try {
    kind = statSync(dir).isDirectory() ? 'directory' : 'other';
  } catch (err) {
    // ENOTDIR: some parent is a file; the level that is says so below.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new SecurityError(problem, `cannot create directory ${dir}: ${(err as Error).message}`, { cause: err });
    kind = 'missing';
  }
  if (kind === 'directory') return false;
  if (kind === 'other') throw new SecurityError(problem, `cannot create directory ${dir}: it exists and is not a directory`);
  // dirname of the root is the root, which exists: the recursion ends within the
  // path's depth.
  makeDirectory(dirname(dir), mode, problem);
  try {
    mkdirSync(dir, { mode });
  } catch (err) {
    throw new SecurityError(problem, `cannot create directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  return true;
}

function read(path: string, problem: SecurityProblem, check: (mode: number) => void): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. It
    // changes nothing for the regular files that are read.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new SecurityError(problem, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    // A device or FIFO (/dev/zero, a pipe) would be read forever or block.
    if (!st.isFile()) throw new SecurityError(problem, `${path} is not a regular file`);
    if (st.size > MAX_READ_BYTES) throw new SecurityError(problem, `${path} is ${st.size} bytes, too large for a credential file (at most ${MAX_READ_BYTES})`);
    check(st.mode);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
