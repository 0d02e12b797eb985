/**
 * The layering rules (.dependency-cruiser.cjs) have teeth: run on a small tree with
 * one upward import, one cycle and one deep import from nodes/, they fail and name
 * each; run on the real tree they pass (npm test also runs them on their own).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT as root } from './helpers/paths.js';

const depcruise = join(root, 'node_modules', '.bin', 'depcruise');
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function cruise(cwd: string): { ok: boolean; out: string } {
  try {
    const out = execFileSync(depcruise, ['--config', join(root, '.dependency-cruiser.cjs'), 'transport', 'nodes'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { ok: true, out };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'zmesh-layers-'));
  dirs.push(dir);
  const all = { 'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', allowJs: true } }), ...files };
  for (const [path, text] of Object.entries(all)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('layers', () => {
  it('layers - an upward import, a cycle and a deep import from nodes/ each fail the rules', () => {
    const dir = tree({
      'transport/errors.ts': 'export const e = 1;\n',
      'transport/index.ts': "export { n } from './node.js';\n",
      'transport/node.ts': "import { l } from './reliable/layer.js';\nexport const n = l;\n",
      'transport/reliable/layer.ts': "import { c } from '../protocol/client.js';\nexport const l = c;\n",
      // protocol/ reaching up into reliable/: upward, and a cycle with layer.ts.
      'transport/protocol/client.ts': "import { e } from '../errors.js';\nimport type { l } from '../reliable/layer.js';\nexport const c = e;\nexport type L = typeof l;\n",
      'nodes/cli.ts': "import { n } from '../transport/node.js';\nexport const x = n;\n",
    });
    const { ok, out } = cruise(dir);
    expect(ok).toBe(false);
    expect(out).toContain('protocol-sees-codec-and-below: transport/protocol/client.ts → transport/reliable/layer.ts');
    expect(out).toContain('no-cycles-in-transport');
    expect(out).toContain('users-import-the-public-index-only: nodes/cli.ts → transport/node.ts');
  });

  it('layers - the same tree with the imports pointing down passes', () => {
    const dir = tree({
      'transport/errors.ts': 'export const e = 1;\n',
      'transport/index.ts': "export { n } from './node.js';\n",
      'transport/node.ts': "import { l } from './reliable/layer.js';\nexport const n = l;\n",
      'transport/reliable/layer.ts': "import { c } from '../protocol/client.js';\nexport const l = c;\n",
      'transport/protocol/client.ts': "import { e } from '../errors.js';\nexport const c = e;\n",
      'nodes/cli.ts': "import { n } from '../transport/index.js';\nexport const x = n;\n",
    });
    const { ok, out } = cruise(dir);
    expect(out).toContain('no dependency violations');
    expect(ok).toBe(true);
  });
});
