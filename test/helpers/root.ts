/**
 * Tests that need root (network namespaces for the virtual LAN, a tmpfs to fill):
 * without root they are reported as skipped, with the reason, so a developer's run
 * says what it did not cover instead of failing. CI runs as root and sets CI=true;
 * there a test that cannot get root fails, so a CI run never passes by skipping.
 */
import { isCi } from './ci.js';

/** What a vitest test or hook context offers for skipping. */
interface Skippable { skip(note?: string): void }

export const isRoot = (): boolean => process.getuid?.() === 0;

/** The reason `what` cannot run here, or undefined when it can. Throws under CI. */
export function rootMissing(what: string): string | undefined {
  if (isRoot()) return undefined;
  const reason = `${what} needs root; run the tests as root, as CI does`;
  if (isCi()) throw new Error(`${reason} (CI=true: a test that needs root must run, not be skipped)`);
  return reason;
}

/** Skips the running test (call it first, or from beforeEach) unless root; fails
 *  under CI instead. */
export function requireRoot(ctx: Skippable, what: string): void {
  const reason = rootMissing(what);
  if (reason !== undefined) ctx.skip(reason);
}
