/**
 * Large payloads beside the database, not in it.
 *
 * In WAL mode SQLite writes every byte of a row twice: into the WAL at commit, then
 * into the database file at the next checkpoint, each time as 4 KiB pages with one
 * write() per page. For a 64 KiB payload that is 34 page writes and 128 KiB through
 * the disk (about 2 100 events/s here, against 8 700/s for the same bytes appended to
 * a file). So a payload of at least SPILL_MIN_BYTES is appended once to a segment
 * file in `<store>-spill/`, and its row holds where: segment, offset, length.
 *
 * The row and its bytes still commit together: the bytes are written when the row is
 * inserted, and `sync()` (fdatasync, with durability 'full') runs inside the
 * transaction, after its last write and before its COMMIT. So a committed row's bytes
 * are on disk before the row is. A transaction that rolls back, or a crash before its
 * commit, leaves bytes no row points at: dead space in a segment, freed with it.
 * With durability 'os' nothing is synced: a power loss may keep a row whose bytes did
 * not reach the disk. So in that mode each payload's CRC-32 is kept too, and a
 * mismatch makes read() throw StoreError 'corrupt' (nothing is deleted). With 'full'
 * the order above already rules that out, as it does for SQLite's own pages, and the
 * CRC would cost 15 us per 64 KiB (a tenth of a core at 8 000 events/s): it is not
 * kept.
 *
 * Segments are numbered, append-only, and a new one starts past SEGMENT_BYTES (or
 * when the store is opened again, so no write ever lands after bytes of unknown
 * state). A segment goes when no row points into it any more: `collect(oldestLive)`
 * unlinks every segment below the oldest one still referenced, never the one written.
 */
import { closeSync, fdatasyncSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { StoreError, errorMessage } from '../errors.js';
import type { Durability } from '../types.js';

/** Payloads this large or larger are spilled. Below it SQLite's own pages cost less
 *  than a second file's write and sync. */
export const SPILL_MIN_BYTES = 8 * 1024;
/** A segment past this size is closed and the next one started. */
export const SEGMENT_BYTES = 64 * 1024 * 1024;

/** Where a spilled payload lives. */
export interface SpillRef {
  segment: number;
  offset: number;
  length: number;
  /** With durability 'os' only (below). */
  crc: number | undefined;
}

const SEGMENT_NAME = /^(\d{10})\.seg$/;
const segmentName = (n: number): string => `${String(n).padStart(10, '0')}.seg`;

export class Spill {
  readonly dir: string;
  /** The segment being appended to, opened on the first append. */
  private current: { n: number; fd: number; size: number } | undefined;
  /** Segments on disk, lowest first (the current one last, once opened). */
  private segments: number[];
  private readonly readers = new Map<number, number>();
  /** Bytes appended since the last sync(). */
  private dirty = false;

  constructor(
    storePath: string,
    private readonly durability: Durability,
    /** Past this, the next segment starts (smaller in tests). */
    private readonly segmentBytes = SEGMENT_BYTES,
  ) {
    this.dir = `${storePath}-spill`;
    this.segments = listSegments(this.dir);
  }

  /** Appends `payload` to the current segment (starting one if needed); the caller
   *  stores the returned reference in the same transaction and must sync() before
   *  it commits. Throws the fs error (ENOSPC on a full disk) with nothing referenced. */
  append(payload: Buffer): SpillRef {
    const seg = this.writable(payload.byteLength);
    const offset = seg.size;
    try {
      for (let done = 0; done < payload.byteLength;) done += writeSync(seg.fd, payload, done, payload.byteLength - done, offset + done);
    } catch (err) {
      // A partial write leaves bytes nobody points at; later appends go after them.
      seg.size = fstatSync(seg.fd).size;
      throw err;
    }
    seg.size += payload.byteLength;
    this.dirty = true;
    return { segment: seg.n, offset, length: payload.byteLength, crc: this.durability === 'full' ? undefined : crc32(payload) };
  }

  /** Makes what was appended durable (durability 'full'); runs inside the transaction
   *  that references it, before COMMIT. */
  sync(): void {
    if (!this.dirty || this.current === undefined) return;
    if (this.durability === 'full') fdatasyncSync(this.current.fd);
    this.dirty = false;
  }

  /** The payload `ref` points at. Throws StoreError 'corrupt' when its bytes are
   *  missing or do not match their CRC (a power loss with durability 'os', or damage). */
  read(ref: SpillRef): Buffer {
    const out = Buffer.allocUnsafe(ref.length);
    let got = 0;
    try {
      const fd = this.reader(ref.segment);
      while (got < ref.length) {
        const n = readSync(fd, out, got, ref.length - got, ref.offset + got);
        if (n === 0) break;
        got += n;
      }
    } catch (err) {
      throw new StoreError('corrupt', `spilled payload ${segmentName(ref.segment)}@${ref.offset} cannot be read: ${errorMessage(err)}`, { cause: err });
    }
    if (got !== ref.length || (ref.crc !== undefined && crc32(out) !== ref.crc)) {
      throw new StoreError('corrupt', `spilled payload ${segmentName(ref.segment)}@${ref.offset} (${ref.length} bytes) is ${got !== ref.length ? 'cut short' : 'damaged (CRC mismatch)'}; it was left as it is`);
    }
    return out;
  }

  /** Unlinks every segment below `oldestLive` (the lowest segment a row still points
   *  at; undefined: none does), never the one being written. Returns how many went. */
  collect(oldestLive: number | undefined): number {
    let removed = 0;
    const keep: number[] = [];
    for (const n of this.segments) {
      const dead = n !== this.current?.n && (oldestLive === undefined || n < oldestLive);
      if (!dead) {
        keep.push(n);
        continue;
      }
      this.dropReader(n);
      try {
        unlinkSync(join(this.dir, segmentName(n)));
        removed++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          keep.push(n);
          continue;
        }
      }
    }
    this.segments = keep;
    return removed;
  }

  /** Bytes in segment `n`, or undefined when there is no such file. */
  size(n: number): number | undefined {
    if (n === this.current?.n) return this.current.size;
    try {
      return statSync(join(this.dir, segmentName(n))).size;
    } catch {
      return undefined;
    }
  }

  close(): void {
    for (const n of [...this.readers.keys()]) this.dropReader(n);
    if (this.current !== undefined) closeSync(this.current.fd);
    this.current = undefined;
  }

  private writable(adding: number): { n: number; fd: number; size: number } {
    const cur = this.current;
    if (cur !== undefined && (cur.size === 0 || cur.size + adding <= this.segmentBytes)) return cur;
    if (cur !== undefined) {
      // Everything in it is synced by the transactions that referenced it.
      this.sync();
      closeSync(cur.fd);
    }
    mkdirSync(this.dir, { recursive: true });
    const n = (this.segments.at(-1) ?? 0) + 1;
    const fd = openSync(join(this.dir, segmentName(n)), 'wx+');
    // The new name must survive a power loss before any row points into it.
    if (this.durability === 'full') syncDir(this.dir);
    this.segments.push(n);
    this.current = { n, fd, size: 0 };
    return this.current;
  }

  private reader(n: number): number {
    if (n === this.current?.n) return this.current.fd;
    let fd = this.readers.get(n);
    if (fd === undefined) {
      fd = openSync(join(this.dir, segmentName(n)), 'r');
      this.readers.set(n, fd);
    }
    return fd;
  }

  private dropReader(n: number): void {
    const fd = this.readers.get(n);
    if (fd === undefined) return;
    this.readers.delete(n);
    closeSync(fd);
  }
}

function listSegments(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.map((f) => SEGMENT_NAME.exec(f)?.[1]).filter((m): m is string => m !== undefined).map(Number).sort((a, b) => a - b);
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
