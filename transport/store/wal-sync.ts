/**
 * Durability without blocking the event loop.
 *
 * With synchronous=FULL, SQLite fsyncs the WAL inside COMMIT: better-sqlite3 is
 * synchronous, so the whole node (its sockets, heartbeats, other handlers) stops for
 * every fsync, 1 to 2 ms here and 10 to 30 ms on an SD card. A commit that only has to
 * be durable before something is told about it (a send() promise, an ACK, a live
 * publish) need not wait inside COMMIT. Such a commit runs with synchronous=NORMAL
 * (`commit()`), which in WAL mode writes its frames to the WAL and returns; then
 * `afterSync(cb)` calls cb once an fdatasync of the WAL that started after the commit
 * has returned, on libuv's thread pool. The frames of that commit are then on the
 * disk, exactly as FULL would have left them; until then nothing outside the process
 * has heard of it, so a power cut loses only what nobody was told about. What the
 * process itself does meanwhile (its later transactions read the committed rows) dies
 * with it in that power cut.
 *
 * One fdatasync covers every commit before it started: while one runs, the callbacks
 * of later commits wait for the next, so fsyncs stay one at a time and batch by
 * themselves. With durability 'os' there is nothing to wait for and cb runs at once.
 *
 * The WAL file keeps its inode while the connection is open (SQLite restarts it in
 * place after a checkpoint, and journal_size_limit is not set), so one descriptor
 * serves. `flushSync()` (close) syncs once more, synchronously, and runs every
 * callback still waiting.
 */
import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import type Database from 'better-sqlite3';
import type { Durability } from '../types.js';

export type SyncCallback = (err: Error | undefined) => void;

export class WalSync {
  private fd: number | undefined;
  /** Callbacks the fdatasync now running covers. */
  private running: SyncCallback[] | undefined;
  /** Callbacks of commits made after it started: the next one covers them. */
  private queued: SyncCallback[] = [];
  /** fdatasyncs of the WAL so far (what group commit saved, for the benchmark). */
  syncs = 0;
  private pragmas: { normal: Database.Statement; full: Database.Statement } | undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly walPath: string,
    private readonly durability: Durability,
    /** A callback threw: reported, and the others still run. */
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Runs `write` (one whole transaction) without an fsync at its COMMIT; call
   *  afterSync() before telling anyone about it. */
  commit<T>(write: () => T): T {
    if (this.durability !== 'full' || this.db.inTransaction) return write();
    // Prepared once: db.pragma() compiles its statement on every call, which cost
    // 3.7 µs a commit for the pair here, against 1.4 µs run prepared.
    this.pragmas ??= { normal: this.db.prepare('PRAGMA synchronous = NORMAL'), full: this.db.prepare('PRAGMA synchronous = FULL') };
    this.pragmas.normal.run();
    try {
      return write();
    } finally {
      this.pragmas.full.run();
    }
  }

  /** Calls cb once everything committed so far is on the disk (at once with 'os'). */
  afterSync(cb: SyncCallback): void {
    if (this.durability !== 'full') return this.call(cb, undefined);
    this.queued.push(cb);
    if (this.running === undefined) this.start();
  }

  /** Syncs now, synchronously, and runs every callback still waiting. */
  flushSync(): void {
    const waiting = [...(this.running ?? []), ...this.queued];
    this.running = undefined;
    this.queued = [];
    if (waiting.length === 0) return;
    let failure: Error | undefined;
    try {
      fdatasyncSync(this.descriptor());
      this.syncs++;
    } catch (err) {
      failure = err as Error;
    }
    for (const cb of waiting) this.call(cb, failure);
  }

  close(): void {
    this.flushSync();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private start(): void {
    const round = this.queued;
    this.queued = [];
    this.running = round;
    let fd: number;
    try {
      fd = this.descriptor();
    } catch (err) {
      this.finish(round, err as Error);
      return;
    }
    fdatasync(fd, (err) => this.finish(round, err ?? undefined));
  }

  private finish(round: SyncCallback[], err: Error | undefined): void {
    // flushSync() ran these already.
    if (this.running !== round) return;
    this.running = undefined;
    if (err === undefined) this.syncs++;
    for (const cb of round) this.call(cb, err);
    if (this.queued.length > 0) this.start();
  }

  private descriptor(): number {
    this.fd ??= openSync(this.walPath, 'r');
    return this.fd;
  }

  private call(cb: SyncCallback, err: Error | undefined): void {
    try {
      cb(err);
    } catch (thrown) {
      this.onError(thrown);
    }
  }
}
