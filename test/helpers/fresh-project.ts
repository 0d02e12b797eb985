/**
 * A fresh project that installs the packed zmesh tarball the way a user's would, with
 * no network (issue 14, finding 6).
 *
 * Why not `npm install --offline <tarball>`: it resolves every dependency's version
 * range from registry metadata (packuments), and `npm ci` caches only tarballs, so it
 * fails with ENOTCACHED on a machine that never ran `npm install` online. Instead the
 * project gets a lock file: the tarball (file:), plus the part of the repository's own
 * lock that the tarball's declared `dependencies` reach, plus the project's own
 * devDependencies (typescript, @types/node). `npm ci --offline` then installs exactly
 * that from the npm cache that the repository's `npm ci` filled. A dependency the
 * package forgets to declare is missing here, as it would be for a user; nothing is
 * borrowed from the repository's node_modules except one compiled file below.
 *
 * Install scripts are skipped: better-sqlite3 would compile SQLite from source (about
 * 90 s, see README "Use it as a library"). Its compiled addon is copied from the
 * repository's install of the very same version instead; zeromq ships prebuilt
 * binaries in its tarball and needs no script.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './paths.js';

/** What a user's TypeScript project adds next to zmesh. */
const OWN_DEV_DEPENDENCIES = ['typescript', '@types/node'] as const;
/** Bounds on every child process here: a stuck npm must fail the test, not hang it. */
const PACK_TIMEOUT_MS = 60_000;
const INSTALL_TIMEOUT_MS = 120_000;

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [key: string]: unknown;
}
interface Lock { packages: Record<string, LockEntry> }

export interface FreshProject {
  readonly dir: string;
  /** The installed package: <dir>/node_modules/zmesh. */
  readonly pkg: string;
  /** The packed tarball's file list, as `npm pack --json` printed it. */
  readonly packed: string[];
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${r.error?.message ?? `exit ${r.status}`}\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/** `npm pack` of the repository as built (npm test builds first), into `dest`. */
export function pack(dest: string): { tarball: string; files: string[]; manifest: Record<string, unknown> } {
  if (!existsSync(join(ROOT, 'dist/transport/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  // --ignore-scripts: no lifecycle script may rebuild or change what was built.
  const out = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], ROOT, PACK_TIMEOUT_MS)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const entry = out[0]!;
  const tarball = join(dest, entry.filename);
  // The manifest as packed, not as in the working tree.
  const manifest = JSON.parse(run('tar', ['-xzOf', tarball, 'package/package.json'], dest, PACK_TIMEOUT_MS)) as Record<string, unknown>;
  return { tarball, files: entry.files.map((f) => f.path), manifest };
}

/** The lock path that `name` resolves to from the package at `from`, by Node's rule:
 *  from/node_modules/name, then each enclosing node_modules up to the root. */
function resolveInLock(lock: Lock, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
    if (lock.packages[candidate] !== undefined) return candidate;
    if (base === '') return undefined;
    const cut = base.lastIndexOf('/node_modules/');
    base = cut < 0 ? '' : base.slice(0, cut);
  }
}

/** Every lock entry that `roots` reach through dependencies, copied without the
 *  repository's dev/optional flags (they describe the repository, not this project). */
function closure(lock: Lock, roots: string[]): Record<string, LockEntry> {
  const out: Record<string, LockEntry> = {};
  const visit = (from: string, name: string, optional: boolean): void => {
    const path = resolveInLock(lock, from, name);
    if (path === undefined) {
      if (optional) return;
      throw new Error(`the repository's package-lock.json has no ${name} (needed by ${from === '' ? 'the package' : from})`);
    }
    if (out[path] !== undefined) return;
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = lock.packages[path]!;
    out[path] = entry;
    for (const d of Object.keys(entry.dependencies ?? {})) visit(path, d, false);
    for (const d of Object.keys(entry.optionalDependencies ?? {})) visit(path, d, true);
    for (const d of Object.keys(entry.peerDependencies ?? {})) visit(path, d, entry.peerDependenciesMeta?.[d]?.optional === true);
  };
  for (const r of roots) visit('', r, false);
  return out;
}

/** Packs the repository and installs the tarball into a new temp project. */
export function freshProject(): FreshProject {
  const dir = mkdtempSync(join(tmpdir(), 'zmesh-fresh-'));
  const { tarball, files, manifest } = pack(dir);
  const tgz = tarball.slice(dir.length + 1);
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lock;
  const deps = (manifest['dependencies'] ?? {}) as Record<string, string>;
  const own = Object.fromEntries(OWN_DEV_DEPENDENCIES.map((name) => {
    const version = lock.packages[`node_modules/${name}`]?.version;
    if (version === undefined) throw new Error(`the repository's package-lock.json has no ${name}`);
    return [name, version];
  }));
  const reached = closure(lock, [...Object.keys(deps), ...OWN_DEV_DEPENDENCIES]);
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const project = { name: 'fresh-zmesh-user', version: '1.0.0', private: true, type: 'module', dependencies: { zmesh: `file:${tgz}` }, devDependencies: own };
  const projectLock = {
    name: project.name, version: project.version, lockfileVersion: 3, requires: true,
    packages: {
      '': { name: project.name, version: project.version, dependencies: project.dependencies, devDependencies: own },
      'node_modules/zmesh': { version: manifest['version'], resolved: `file:${tgz}`, integrity, license: manifest['license'], dependencies: deps, bin: manifest['bin'], engines: manifest['engines'] },
      ...reached,
    },
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(project, null, 2)}\n`);
  writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify(projectLock, null, 2)}\n`);
  run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], dir, INSTALL_TIMEOUT_MS);
  copyNativeAddon(dir);
  return { dir, pkg: join(dir, 'node_modules/zmesh'), packed: files };
}

/** better-sqlite3's compiled addon, from the repository's install of the same version. */
function copyNativeAddon(dir: string): void {
  const version = (d: string): string => (JSON.parse(readFileSync(join(d, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string }).version;
  if (version(ROOT) !== version(dir)) throw new Error(`better-sqlite3 ${version(dir)} installed, the repository has ${version(ROOT)}: run npm ci`);
  const from = join(ROOT, 'node_modules/better-sqlite3/build/Release');
  const to = join(dir, 'node_modules/better-sqlite3/build/Release');
  mkdirSync(to, { recursive: true });
  const addons = readdirSync(from).filter((f) => f === 'better_sqlite3.node');
  if (addons.length !== 1) throw new Error(`no compiled better_sqlite3.node in ${from}: run npm ci`);
  copyFileSync(join(from, addons[0]!), join(to, addons[0]!));
}
