/**
 * The fuzzer (bench/fuzz.ts, `npm run fuzz` runs 1 000 000 frames) in a short run: a
 * secure node in its own process takes mutated envelopes with valid MACs, unsealed
 * ones, wrong frame counts, garbage at the CURVE handshake and strangers' keys, and
 * neither exits nor stops serving a member.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { dist } from './helpers/paths.js';

describe('fuzz', () => {
  it('fuzz - 30 000 hostile frames against a secure node: no crash, and the member is served after it', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [dist('bench/fuzz.js'), '--frames', '30000', '--seconds', '60', '--json'], { timeout: 90_000 });
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as { ok: boolean; frames: number; crashed: string | null; afterStorm: { ok: number }; dropped: Record<string, number> };
    expect(result.crashed).toBeNull();
    expect(result.frames).toBeGreaterThanOrEqual(30_000);
    expect(result.afterStorm.ok).toBe(200);
    // The mutations reached every stage: decoding, validation and the guard.
    expect(result.dropped['malformed']).toBeGreaterThan(0);
    expect(result.dropped['invalid']).toBeGreaterThan(0);
    expect((result.dropped['senderMismatch'] ?? 0) + (result.dropped['forbidden'] ?? 0)).toBeGreaterThan(0);
    expect(result.ok).toBe(true);
  });
});
