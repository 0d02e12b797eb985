#!/usr/bin/env node
// Build step: generate JS codecs and TypeScript declarations from the .proto files.
// Output goes next to the sources (so vitest can run the .ts files) and into dist/
// (tsc does not copy .js/.d.ts inputs). Generated files are never committed.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', 'protobufjs-cli', 'bin', name);

// Each target gets its own protobufjs root name so two generated modules never share
// (and overwrite) one namespace object at run time.
const targets = [
  // The envelope is validated by transport/codec.ts: no verify/convert code needed.
  { out: 'transport/gen/mesh', rootName: 'zmesh_mesh', protos: ['proto/envelope.proto', 'proto/control.proto'], extra: ['--no-verify', '--no-convert'] },
  // Certificates and revocation lists: transport/security/certificate.ts checks every field.
  { out: 'transport/gen/security', rootName: 'zmesh_security', protos: ['proto/security.proto'], extra: ['--no-verify', '--no-convert'] },
  // Node summaries ($zmesh/summary): transport/observe/summary-codec.ts checks every field.
  { out: 'transport/gen/observe', rootName: 'zmesh_observe', protos: ['proto/observe.proto'], extra: ['--no-verify', '--no-convert'] },
  // Commerce keeps fromObject/toObject: the CLI speaks JSON (`zmesh call`, `zmesh watch`).
  { out: 'nodes/gen/commerce', rootName: 'zmesh_commerce', protos: ['proto/commerce.proto'], extra: [] },
];

const newest = (files) => Math.max(...files.map((f) => statSync(join(root, f)).mtimeMs));

for (const t of targets) {
  if (!t.protos.every((p) => existsSync(join(root, p)))) continue;
  const js = join(root, `${t.out}.js`);
  const dts = join(root, `${t.out}.d.ts`);
  const inputs = [...t.protos, 'proto/generate.mjs'];
  const fresh = existsSync(js) && existsSync(dts) && statSync(dts).mtimeMs >= newest(inputs);
  if (!fresh) {
    mkdirSync(dirname(js), { recursive: true });
    execFileSync(process.execPath, [bin('pbjs'),
      '-t', 'static-module', '-w', 'es6', '-r', t.rootName,
      // uint64 as JS number: seq and timestamps stay far below 2^53.
      '--force-number',
      ...t.extra, '--no-delimited', '--no-beautify',
      '-o', js, ...t.protos.map((p) => join(root, p))], { stdio: 'inherit' });
    execFileSync(process.execPath, [bin('pbts'), '--no-comments', '-o', dts, js], { stdio: 'inherit' });
    // pbts exits 0 on some parse failures; an empty declaration file would only surface
    // later as confusing type errors, so fail the build here.
    if (!readFileSync(dts, 'utf8').includes('export namespace')) throw new Error(`pbts produced no declarations for ${t.out}`);
  }
  for (const f of [js, dts]) {
    const dest = join(root, 'dist', f.slice(root.length + 1));
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(f, dest);
  }
}
