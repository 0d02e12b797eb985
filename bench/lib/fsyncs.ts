/**
 * Counts the fsync family of system calls a process makes, by attaching strace to it
 * by PID: `strace -f -c -e trace=fsync,fdatasync,sync_file_range -p PID`. -f takes in
 * every thread the process has and starts (SQLite syncs on the caller's thread, the
 * Erlang VM and the Go runtime on threads of their own). -c only counts.
 *
 * A traced process runs slower (each of its system calls stops for the tracer), so a
 * count is only ever taken in a pass of its own, never in a timed one; and whatever a
 * process syncs on a timer (a broker's periodic flush) is counted over a pass that
 * lasts longer than a timed one would.
 *
 * Sharp edge: strace runs as a child of the bench. Ctrl-C reaches it too (same process
 * group) and it detaches; a bench killed with SIGKILL leaves it attached until it is
 * stopped by its own PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FSYNC_CALLS = ['fsync', 'fdatasync', 'sync_file_range'] as const;
const STRACE = '/usr/bin/strace';
const ATTACH_TIMEOUT_MS = 10_000;
const DETACH_TIMEOUT_MS = 10_000;

export type SyncCounts = Record<(typeof FSYNC_CALLS)[number], number>;
export const totalSyncs = (c: SyncCounts): number => FSYNC_CALLS.reduce((s, k) => s + c[k], 0);

/** Why counting cannot work here, or undefined when it can. */
export function stracesUnavailable(): string | undefined {
  const r = spawnSync(STRACE, ['-V'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `no ${STRACE} (${r.error?.message ?? `exit ${r.status}`})`;
}

export interface Counter {
  /** Detaches and returns the calls counted since attach. */
  stop(): Promise<SyncCounts>;
}

/** Attaches to `pid`; resolves once strace has attached to every thread. */
export async function countSyncs(pid: number): Promise<Counter> {
  const dir = mkdtempSync(join(tmpdir(), 'zmesh-bench-strace-'));
  const out = join(dir, 'counts.txt');
  const child: ChildProcess = spawn(STRACE, ['-f', '-c', '-e', `trace=${FSYNC_CALLS.join(',')}`, '-o', out, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let stderr = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`strace did not attach to ${pid} within ${ATTACH_TIMEOUT_MS} ms: ${stderr.trim()}`)), ATTACH_TIMEOUT_MS);
      child.stderr!.on('data', (b: Buffer) => {
        stderr += b.toString();
        // "Process 123 attached" or "Process 123 attached with 9 threads"
        if (new RegExp(`Process ${pid} attached`).test(stderr)) { clearTimeout(t); resolve(); }
      });
      void exited.then((code) => { clearTimeout(t); reject(new Error(`strace exited (${code}) before attaching to ${pid}: ${stderr.trim()}`)); });
    });
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    stop: async () => {
      try {
        // SIGINT: strace detaches from every thread and writes its summary.
        child.kill('SIGINT');
        const t = setTimeout(() => child.kill('SIGKILL'), DETACH_TIMEOUT_MS);
        await exited;
        clearTimeout(t);
        return parseSummary(readFileSync(out, 'utf8'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** strace -c's table: "% time  seconds  usecs/call  calls  errors syscall"; a call
 *  that never happened has no line (and no call at all leaves the file empty). */
export function parseSummary(text: string): SyncCounts {
  const counts: SyncCounts = { fsync: 0, fdatasync: 0, sync_file_range: 0 };
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    const name = cols.at(-1) as keyof SyncCounts;
    if (!(FSYNC_CALLS as readonly string[]).includes(name)) continue;
    // "% time, seconds, usecs/call, calls, [errors,] syscall": calls is the fourth.
    const calls = Number(cols[3]);
    if (Number.isFinite(calls)) counts[name] += calls;
  }
  return counts;
}
