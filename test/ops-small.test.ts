/**
 * Two of issue 14's smaller things, on real processes: the root rule of the test
 * suite (a test that needs root is skipped with its reason without root, and fails
 * under CI), checked by running the helper as an unprivileged user; and `npm run
 * bench` printing what it reports on stdout.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dist } from './helpers/paths.js';
import { requireRoot } from './helpers/root.js';

const NOBODY = 65_534;

/** Runs the root helper in a process of uid `nobody`, with or without CI=true. The
 *  helper's compiled files are copied to a directory nobody can read (a clone in a
 *  mkdtemp directory is not). */
function asNobody(ci: boolean): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'zmesh-root-rule-'));
  chmodSync(dir, 0o755);
  for (const f of ['root.js', 'ci.js']) copyFileSync(dist(`test/helpers/${f}`), join(dir, f));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  const script = `import(${JSON.stringify(join(dir, 'root.js'))}).then((m) => { try { console.log('reason:', m.rootMissing('the virtual LAN')); } catch (e) { console.log('threw:', e.message); } })`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (ci) env['CI'] = 'true';
  else delete env['CI'];
  try {
    const r = spawnSync(process.execPath, ['-e', script], { uid: NOBODY, gid: NOBODY, env, encoding: 'utf8', cwd: '/' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('issue 14, smaller things', () => {
  it('root - without root a test that needs it gets a skip reason; with CI=true it fails instead', (ctx) => {
    // Changing uid needs root itself: this is CI's check of the rule.
    requireRoot(ctx, 'running a process as nobody');
    const dev = asNobody(false);
    expect(dev.stdout.trim()).toBe('reason: the virtual LAN needs root; run the tests as root, as CI does');
    const ci = asNobody(true);
    expect(ci.stdout.trim()).toMatch(/^threw: the virtual LAN needs root; .*CI=true: a test that needs root must run, not be skipped/);
  });

  it('bench - npm run bench prints its report on stdout, progress on stderr', () => {
    // A run that measures nothing (pairs need both zmesh systems) still reports where
    // its results went: that line, like every table, is on stdout.
    const r = spawnSync(process.execPath, [dist('bench/run.js'), '--only', 'pairs', '--systems', 'zmesh'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('results: bench/results/partial/latest.json');
    expect(r.stderr).not.toContain('results:');
  });
});
