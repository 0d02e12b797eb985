/**
 * An authority directory's records (authority.ts has the layout): the serial counter
 * DIR/serial and the revocation list DIR/revoked.list.
 *
 * - A serial is written to DIR/serial before it is used, so a crash can skip a serial
 *   but never reuse one.
 * - Each file is changed under an O_EXCL lock file beside it (DIR/serial.lock,
 *   DIR/revoked.list.lock). One left behind by a crash must be removed by hand (the
 *   error says so): guessing that its owner is dead is how serials get reused.
 * - DIR/revoked.list always holds every serial revoked so far, re-signed on each change
 *   and replaced atomically, so a node reading it never sees half a list.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, SecurityError } from '../errors.js';
import { REVOKED_FILE, SERIAL_FILE, type Authority } from './authority.js';
import { issueRevocationList, verifyRevocationList } from './certificate.js';
import { createExclusive, readPublic, replaceAtomically } from './files.js';

/** The last serial issued from DIR; 0 when none was. */
export function lastSerial(dir: string): number {
  const file = join(dir, SERIAL_FILE);
  if (!existsSync(file)) return 0;
  const text = readPublic(file, 'config').toString('utf8').trim();
  const n = Number(text);
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(n + 1)) throw new SecurityError('config', `${file} does not hold a serial number`);
  return n;
}

/** Allocates the next serial of DIR (1 for the first certificate). */
export function nextSerial(dir: string): number {
  const file = join(dir, SERIAL_FILE);
  return locked(file, () => {
    const next = lastSerial(dir) + 1;
    replaceAtomically(file, `${next}\n`, 0o600, 'config');
    return next;
  });
}

/** The serials DIR/revoked.list revokes (empty when there is no list), after checking
 *  its signature by `authorityKey`. */
export function revokedSerials(dir: string, authorityKey: Uint8Array): Set<number> {
  const file = join(dir, REVOKED_FILE);
  if (!existsSync(file)) return new Set();
  return verifyRevocationList(readPublic(file, 'certificate'), [authorityKey]);
}

export interface Revocation {
  /** The list file written. */
  file: string;
  /** Every serial the list now revokes, ascending. */
  serials: number[];
  issuedMs: number;
}

/**
 * Adds `serials` to DIR/revoked.list and re-signs it. InvalidArgumentError for a serial
 * DIR never issued (a typo would leave the certificate meant valid).
 */
export function revokeSerials(authority: Authority, dir: string, serials: readonly number[], nowMs: number = Date.now()): Revocation {
  const last = lastSerial(dir);
  const unknown = serials.find((s) => !Number.isSafeInteger(s) || s < 1 || s > last);
  if (unknown !== undefined) throw new InvalidArgumentError(`serial ${unknown} was never issued by this authority (last issued: ${last})`);
  const file = join(dir, REVOKED_FILE);
  // Read, add, write under the lock: two revocations at once must not lose one.
  const all = locked(file, () => {
    const set = revokedSerials(dir, authority.publicKey);
    for (const s of serials) set.add(s);
    replaceAtomically(file, issueRevocationList(authority, set, nowMs), 0o644, 'certificate');
    return set;
  });
  return { file, serials: [...all].sort((a, b) => a - b), issuedMs: nowMs };
}

/** Runs `fn` holding `<file>.lock`, an O_EXCL file: refused, never waited for. */
function locked<T>(file: string, fn: () => T): T {
  const lock = `${file}.lock`;
  try {
    createExclusive(lock, `${process.pid}\n`, 0o600, 'config');
  } catch (err) {
    throw new SecurityError('config', `${lock} exists: another zmesh command is changing ${file}, or one was interrupted (then remove the lock file)`, { cause: err });
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}
