/**
 * The package as a library user gets it (issue 14, findings 6 and 7): `npm pack`, the
 * tarball installed into a fresh project without network (helpers/fresh-project.ts),
 * then what that user would do: read the README, type-check the examples with
 * TypeScript strict under node16, nodenext and node10 resolution, and run them. Every
 * example binds 127.0.0.1 only and uses static discovery: nothing is multicast.
 *
 *   repo --npm pack--> zmesh-<v>.tgz --npm ci --offline--> <tmp>/node_modules/zmesh
 *   <tmp>/examples/*.js: tsc (3 resolutions), then node, each to completion
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freshProject, type FreshProject } from './helpers/fresh-project.js';
import { ROOT } from './helpers/paths.js';

const EXAMPLES = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.js')).sort();
const EXAMPLE_TIMEOUT_MS = 30_000;
const TSC_TIMEOUT_MS = 60_000;

let project: FreshProject;
/** Children still running, reaped after each test even when it failed. */
const running = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

afterEach(async () => {
  await Promise.all([...running].map((c) => new Promise((done) => {
    c.once('exit', done);
    c.kill('SIGKILL');
  })));
});

beforeAll(() => {
  project = freshProject();
  cpSync(join(ROOT, 'examples'), join(project.dir, 'examples'), { recursive: true });
}, 180_000);

afterAll(() => {
  if (project !== undefined) rmSync(project.dir, { recursive: true, force: true });
});

/** Every file under `dir`, as paths relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p, base) : [relative(base, p)];
  });
}

/** Runs an example of the fresh project with node; resolves with its output. */
function runExample(file: string, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join('examples', file)], {
    cwd: project.dir, encoding: 'utf8', timeout: EXAMPLE_TIMEOUT_MS, killSignal: 'SIGKILL', env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The strict options of `tsc --init` (TypeScript 5.9), checking JavaScript too, and
 *  with skipLibCheck off: the package's declarations must check as well. */
const STRICT = {
  target: 'esnext', types: ['node'], strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true,
  verbatimModuleSyntax: true, isolatedModules: true, noUncheckedSideEffectImports: true, moduleDetection: 'force',
  skipLibCheck: false, allowJs: true, checkJs: true, noEmit: true,
};
const RESOLUTIONS = {
  node16: { module: 'node16', moduleResolution: 'node16' },
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
  // node10 ignores `exports`: it finds the package's `types` and `main` fields. Such
  // projects have esModuleInterop (tsc --init set it until TypeScript 5.9), which
  // pino's own declarations need under node10.
  node10: { module: 'es2022', moduleResolution: 'node10', esModuleInterop: true },
} as const;

describe('package', () => {
  it('package - the manifest names entry points, license, repository and keywords that the tarball has', () => {
    const pkg = JSON.parse(readFileSync(join(project.pkg, 'package.json'), 'utf8')) as Record<string, unknown>;
    const exportsRoot = (pkg['exports'] as Record<string, Record<string, string>>)['.']!;
    for (const [field, path] of [['main', pkg['main']], ['types', pkg['types']], ['exports.types', exportsRoot['types']], ['exports.default', exportsRoot['default']], ['bin.zmesh', (pkg['bin'] as Record<string, string>)['zmesh']]] as const) {
      expect(typeof path, `${field} in package.json`).toBe('string');
      expect(existsSync(join(project.pkg, path as string)), `${field} (${String(path)}) is in the tarball`).toBe(true);
    }
    expect(pkg['types']).toBe(exportsRoot['types']);
    expect(pkg['main']).toBe(exportsRoot['default']);
    expect(pkg['license']).toBe('MIT');
    const license = readFileSync(join(project.pkg, 'LICENSE'), 'utf8');
    expect(license.split('\n')[0]).toBe('MIT License');
    expect(license).toMatch(/^Copyright \(c\) \d{4} zmesh contributors$/m);
    expect(license).toContain('THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND');
    expect((pkg['repository'] as { url?: string } | undefined)?.url).toMatch(/^git\+https:\/\//);
    expect(Array.isArray(pkg['keywords']) && (pkg['keywords'] as unknown[]).length > 0).toBe(true);
    for (const e of EXAMPLES) expect(project.packed, `examples/${e} is in the tarball`).toContain(`examples/${e}`);
  });

  it('package - every source map and declaration map in the tarball resolves to a shipped source', () => {
    const files = walk(project.pkg);
    const maps = files.filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(100);
    const missing: string[] = [];
    for (const m of maps) {
      const map = JSON.parse(readFileSync(join(project.pkg, m), 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const s of map.sources) {
        const source = resolve(project.pkg, dirname(m), map.sourceRoot ?? '', s);
        if (!existsSync(source)) missing.push(`${m} -> ${relative(project.pkg, source)}`);
      }
    }
    // And every compiled file that names a map names one that is there.
    for (const f of files.filter((x) => x.endsWith('.js') || x.endsWith('.d.ts'))) {
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(project.pkg, f), 'utf8'))?.[1];
      if (url !== undefined && !existsSync(join(project.pkg, dirname(f), url))) missing.push(`${f} -> ${url}`);
    }
    expect(missing.slice(0, 10), `${missing.length} unresolved; a stale dist/ (outputs of deleted sources) shows here too: remove dist/ and build again`).toEqual([]);
  });

  it("package - the README's links and images resolve inside the package", () => {
    const readme = readFileSync(join(project.pkg, 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    const local = targets.filter((t) => !/^[a-z]+:/i.test(t) && !t.startsWith('#')).map((t) => t.split('#')[0]!);
    expect(local.filter((t) => t.endsWith('.svg')).length, 'the benchmark charts').toBeGreaterThan(0);
    const missing = local.filter((t) => !existsSync(join(project.pkg, t)));
    expect(missing).toEqual([]);
  });

  it("package - the README's code blocks named after an example are that example, as written", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.startsWith('// examples/'));
    const named = new Map(blocks.map((b) => [/^\/\/ (examples\/[\w-]+\.js)/.exec(b)![1]!, b]));
    for (const e of EXAMPLES) {
      expect(named.has(`examples/${e}`), `README.md shows examples/${e}`).toBe(true);
      expect(named.get(`examples/${e}`), `README.md's block of examples/${e}`).toBe(readFileSync(join(ROOT, 'examples', e), 'utf8'));
    }
    expect([...named.keys()].sort()).toEqual(EXAMPLES.map((e) => `examples/${e}`));
  });

  it('package - a fresh strict TypeScript project type-checks every example and the README\'s TypeScript, under node16, nodenext and node10 resolution', async () => {
    const tsc = join(project.dir, 'node_modules/typescript/bin/tsc');
    // The README's TypeScript blocks that import zmesh, each as a module of its own.
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.includes("from 'zmesh'"));
    expect(snippets.length).toBeGreaterThan(0);
    mkdirSync(join(project.dir, 'snippets'), { recursive: true });
    snippets.forEach((b, i) => writeFileSync(join(project.dir, 'snippets', `readme-${i + 1}.ts`), b));
    // The three at once: each is one process, and most of its time is @types/node.
    const results = await Promise.all(Object.entries(RESOLUTIONS).map(([name, resolution]) => {
      const config = `tsconfig.${name}.json`;
      writeFileSync(join(project.dir, config), JSON.stringify({ compilerOptions: { ...STRICT, ...resolution }, include: ['examples/*.js', 'snippets/*.ts'] }, null, 2));
      return new Promise<string | undefined>((done) => {
        const child = track(spawn(process.execPath, [tsc, '-p', config, '--pretty', 'false'], { cwd: project.dir, stdio: ['ignore', 'pipe', 'pipe'] }));
        let out = '';
        child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
        child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
        const deadline = setTimeout(() => child.kill('SIGKILL'), TSC_TIMEOUT_MS);
        child.once('exit', (code, signal) => {
          clearTimeout(deadline);
          done(code === 0 ? undefined : `${name}: exit ${code ?? signal}\n${out.split('\n').slice(0, 15).join('\n')}`);
        });
      });
    }));
    expect(results.filter((r) => r !== undefined)).toEqual([]);
  });

  it('package - the zmesh CLI runs from the installed package', () => {
    const r = spawnSync(join(project.dir, 'node_modules/.bin/zmesh'), ['version'], { cwd: project.dir, encoding: 'utf8', timeout: EXAMPLE_TIMEOUT_MS, killSignal: 'SIGKILL' });
    expect(r.status, r.stderr).toBe(0);
    // Its native parts load from the installed package: libzmq with CURVE.
    const { version } = JSON.parse(readFileSync(join(project.pkg, 'package.json'), 'utf8')) as { version: string };
    expect(r.stdout).toMatch(new RegExp(`^zmesh\\s+${version.replaceAll('.', '\\.')}$`, 'm'));
    expect(r.stdout).toMatch(/^curve\s+true$/m);
  });

  it('package - every example runs to completion against the installed tarball', () => {
    const expected: Record<string, RegExp[]> = {
      'request-reply.js': [/^count: 42 of sku-1$/m, /^sum: 5$/m],
      'events.js': [/^temperature\.kitchen = 21\.5 from sensor$/m, /^temperature\.attic = 21\.5 from sensor$/m],
      'reliable.js': [/^orders: o-1, o-2$/m, /^reserved: sku-1, sku-2$/m],
      'durable-subscriber.js': [/^invoices: o-1, o-2, o-3$/m],
      'device.js': [/^stopped: 5 readings stored, 5 received upstream, 0 waiting in the outbox$/m],
    };
    expect(Object.keys(expected).sort()).toEqual(EXAMPLES);
    const dataDir = join(project.dir, 'device-run');
    for (const e of EXAMPLES) {
      const r = runExample(e, { DATA_DIR: dataDir, READINGS: '5' });
      expect(r.status, `${e} exit status\n${r.stdout}\n${r.stderr}`).toBe(0);
      for (const line of expected[e]!) expect(r.stdout, e).toMatch(line);
      expect(r.stderr, `${e} writes nothing to stderr`).toBe('');
    }
  });

  it('package - the device example closes cleanly on SIGTERM, and after a SIGKILL its next run delivers every stored reading once', async () => {
    const dataDir = join(project.dir, 'device-signals');
    /** Starts the device program; resolves once it printed its ready line. */
    const start = async () => {
      const child = track(spawn(process.execPath, [join('examples', 'device.js')], {
        cwd: project.dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DATA_DIR: dataDir, READINGS: '100000' },
      }));
      const lines: string[] = [];
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
      createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
      const deadline = setTimeout(() => child.kill('SIGKILL'), EXAMPLE_TIMEOUT_MS);
      void exited.then(() => clearTimeout(deadline));
      await expect.poll(() => lines.some((l) => l.startsWith('ready:')) || child.exitCode !== null, { timeout: 10_000 }).toBe(true);
      return { child, lines, exited };
    };
    const readings = (): number => {
      const db = new Database(join(dataDir, 'thermometer.db'), { readonly: true, fileMustExist: true });
      try {
        return db.prepare('SELECT count(*) FROM readings').pluck().get() as number;
      } finally {
        db.close();
      }
    };

    const term = await start();
    await expect.poll(readings, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    term.child.kill('SIGTERM');
    expect(await term.exited).toEqual({ code: 0, signal: null });
    expect(term.lines.at(-1)).toMatch(/^stopped by signal: \d+ readings stored, \d+ received upstream, \d+ waiting in the outbox$/);

    const crash = await start();
    const before = readings();
    await expect.poll(readings, { timeout: 10_000 }).toBeGreaterThanOrEqual(before + 3);
    crash.child.kill('SIGKILL');
    expect((await crash.exited).signal).toBe('SIGKILL');
    const stored = readings();

    // The next run: every reading the killed run committed is still there, and is
    // delivered (none twice: the collector's PRIMARY KEY would refuse a second one).
    const r = runExample('device.js', { DATA_DIR: dataDir, READINGS: '2' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^stopped: ${stored + 2} readings stored, ${stored + 2} received upstream, 0 waiting in the outbox$`, 'm'));
  });
});
