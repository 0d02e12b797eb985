/**
 * A small real file system to fill: a tmpfs mounted on a temp directory (needs root).
 * `fill()` writes a filler file until the kernel says ENOSPC; `release()` deletes it.
 * Always `unmount()` in a finally or afterAll, after closing whatever has files open
 * there.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCi } from './ci.js';
import { rootMissing } from './root.js';

export interface Tmpfs {
  readonly dir: string;
  /** Fills the file system to the last byte; returns how many bytes that took. */
  fill(): number;
  /** Deletes the filler: the space is back. */
  release(): void;
  unmount(): void;
}

/** Mounts a tmpfs of `sizeKiB`, or says why it cannot (the test is then skipped;
 *  under CI=true it throws instead: root.ts). */
export function mountTmpfs(sizeKiB: number): Tmpfs | { skip: string } {
  const missing = rootMissing('mounting a tmpfs');
  if (missing !== undefined) return { skip: missing };
  const dir = mkdtempSync(join(tmpdir(), 'zmesh-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const why = `mount -t tmpfs failed: ${r.error?.message ?? r.stderr.trim()}`;
    if (isCi()) throw new Error(`${why} (CI=true: the disk-full tests must run, not be skipped)`);
    return { skip: why };
  }
  const filler = join(dir, 'filler');
  return {
    dir,
    fill: () => {
      const fd = openSync(filler, 'a');
      let written = 0;
      try {
        // Big chunks first, then single pages: tmpfs hands out whole pages. Bounded by
        // the size of the file system.
        for (const chunk of [64 * 1024, 4096, 512]) {
          const buf = Buffer.alloc(chunk, 0x5a);
          for (let i = 0; i <= (sizeKiB * 1024) / chunk + 1; i++) {
            try {
              written += writeSync(fd, buf);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
              break;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
      return written;
    },
    release: () => unlinkSync(filler),
    unmount: () => {
      const u = spawnSync('umount', [dir], { encoding: 'utf8' });
      // Something still holds a file there (a failed test's node): detach it anyway.
      if (u.status !== 0) spawnSync('umount', ['-l', dir]);
      rmdirSync(dir);
    },
  };
}
