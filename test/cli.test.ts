/** The zmesh CLI as an operator runs it: a real process, real exit codes. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../dist/nodes/cli/main.js', import.meta.url));
const zmesh = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });

describe('cli', () => {
  it('cli - version --json reports protocol and libzmq versions', () => {
    const r = zmesh('version', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ protocolVersion: 1, libzmq: '4.3.5', curve: true });
  });

  it.each([[['bogus']], [[]], [['version', '--nope']]])('cli - bad arguments %j exit 2 with a clear message', (args) => {
    const r = zmesh(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^zmesh: .+\nrun "zmesh --help" for usage/);
  });
});
