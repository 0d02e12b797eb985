/**
 * Tells whether a file is a zmesh store, nothing yet, or somebody else's, by reading
 * its bytes with plain fs reads. SQLite never opens a file before it is known to be
 * ours: opening one, even read-only, may create -wal and -shm files, write the -shm,
 * roll back a hot journal, or checkpoint and delete the WAL at close.
 *
 * What is read (https://www.sqlite.org/fileformat2.html):
 *   page 1, bytes 0..99     the database header: magic, application_id at 68
 *   page 1, bytes 100..107  the b-tree header of sqlite_schema: a leaf (0x0D) with no
 *                           cells means no table, view, index or trigger at all
 *   <file>-wal              only when the main file looks empty: a store killed before
 *                           its first checkpoint has its schema in the WAL alone, and so
 *                           may a foreign one. The newest committed copy of page 1 there
 *                           (salts and checksums checked, as SQLite's recovery does)
 *                           is the truth.
 *
 * Sharp edge: closing any descriptor of a file drops every POSIX lock this process
 * holds on it, SQLite's included. Never call this on a file that this process already
 * has open through SQLite (open.ts keeps track).
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { APPLICATION_ID } from './schema.js';

export type Verdict =
  /** No file, an empty one, or a SQLite database with no schema objects: ours to fill. */
  | { is: 'new' }
  /** user_version as that page 1 says; a WAL not yet checkpointed may hold a newer one. */
  | { is: 'ours'; userVersion: number }
  | { is: 'foreign'; detail: string }
  | { is: 'notSqlite'; detail: string };

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
/** The database header and the b-tree header of page 1. */
const PAGE1_PREFIX_BYTES = 108;
const LEAF_TABLE_PAGE = 0x0d;
const WAL_MAGIC_LE = 0x377f0682;
const WAL_MAGIC_BE = 0x377f0683;
const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;

export function inspectStore(path: string): Verdict {
  const size = fileSize(path);
  if (size === undefined || size === 0) {
    // A WAL beside an empty file: whatever it committed decides.
    const page1 = newestCommittedPage1(`${path}-wal`);
    return page1 === undefined ? { is: 'new' } : judgePage1(page1, 'its WAL');
  }
  const head = readAt(path, 0, PAGE1_PREFIX_BYTES);
  const verdict = judgePage1(head, 'the file');
  if (verdict.is !== 'new') return verdict;
  const page1 = newestCommittedPage1(`${path}-wal`);
  return page1 === undefined ? verdict : judgePage1(page1, 'its WAL');
}

function judgePage1(page: Buffer, where: string): Verdict {
  if (page.length < PAGE1_PREFIX_BYTES || !page.subarray(0, MAGIC.length).equals(MAGIC)) {
    return { is: 'notSqlite', detail: `${where} does not start with a SQLite header` };
  }
  const appId = page.readUInt32BE(68);
  if (appId === APPLICATION_ID) return { is: 'ours', userVersion: page.readUInt32BE(60) };
  if (appId !== 0) return { is: 'foreign', detail: `application_id 0x${appId.toString(16)} in ${where}` };
  const cells = page.readUInt16BE(103);
  if (page[100] === LEAF_TABLE_PAGE && cells === 0) return { is: 'new' };
  return { is: 'foreign', detail: `${where} holds tables, views, indexes or triggers of another application` };
}

function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function readAt(path: string, position: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    return buf.subarray(0, readSync(fd, buf, 0, length, position));
  } finally {
    closeSync(fd);
  }
}

/** Page 1 as of the last commit recorded in the WAL, or undefined when the WAL is
 *  missing, invalid, or committed no page 1. Reads frame by frame, so a long WAL costs
 *  time but never memory. */
function newestCommittedPage1(walPath: string): Buffer | undefined {
  const size = fileSize(walPath);
  if (size === undefined || size < WAL_HEADER_BYTES) return undefined;
  const fd = openSync(walPath, 'r');
  try {
    const header = Buffer.alloc(WAL_HEADER_BYTES);
    readSync(fd, header, 0, WAL_HEADER_BYTES, 0);
    const magic = header.readUInt32BE(0);
    if (magic !== WAL_MAGIC_LE && magic !== WAL_MAGIC_BE) return undefined;
    const bigEndian = magic === WAL_MAGIC_BE;
    const pageSize = header.readUInt32BE(8);
    if (pageSize < 512 || pageSize > 65_536 || (pageSize & (pageSize - 1)) !== 0) return undefined;
    let sum = checksum(header.subarray(0, 24), [0, 0], bigEndian);
    if (sum[0] !== header.readUInt32BE(24) || sum[1] !== header.readUInt32BE(28)) return undefined;
    const salt1 = header.readUInt32BE(16);
    const salt2 = header.readUInt32BE(20);
    const frame = Buffer.alloc(FRAME_HEADER_BYTES + pageSize);
    const frames = Math.floor((size - WAL_HEADER_BYTES) / frame.length);
    let latest: Buffer | undefined;
    let committed: Buffer | undefined;
    for (let i = 0; i < frames; i++) {
      if (readSync(fd, frame, 0, frame.length, WAL_HEADER_BYTES + i * frame.length) < frame.length) break;
      // A frame of an earlier generation of the WAL, or a torn write: SQLite's
      // recovery stops at the first frame that does not verify, and so do we.
      if (frame.readUInt32BE(8) !== salt1 || frame.readUInt32BE(12) !== salt2) break;
      sum = checksum(frame.subarray(0, 8), sum, bigEndian);
      sum = checksum(frame.subarray(FRAME_HEADER_BYTES), sum, bigEndian);
      if (sum[0] !== frame.readUInt32BE(16) || sum[1] !== frame.readUInt32BE(20)) break;
      if (frame.readUInt32BE(0) === 1) latest = Buffer.from(frame.subarray(FRAME_HEADER_BYTES));
      if (frame.readUInt32BE(4) !== 0) committed = latest; // a commit frame
    }
    return committed;
  } finally {
    closeSync(fd);
  }
}

/** The WAL checksum: Fibonacci-weighted sums of 32-bit words, in the byte order the
 *  WAL's magic names, chained from frame to frame. */
function checksum(bytes: Buffer, [a, b]: [number, number], bigEndian: boolean): [number, number] {
  let s0 = a;
  let s1 = b;
  for (let i = 0; i + 8 <= bytes.length; i += 8) {
    const x0 = bigEndian ? bytes.readUInt32BE(i) : bytes.readUInt32LE(i);
    const x1 = bigEndian ? bytes.readUInt32BE(i + 4) : bytes.readUInt32LE(i + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}
