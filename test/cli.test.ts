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

  it('cli - mDNS commands refuse to run outside a namespace while tests run', () => {
    // vitest sets ZMESH_MDNS_FORBID_ROOT_NETNS=1; this process is not in a named netns.
    const r = zmesh('peers', '--timeout', '1');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('mDNS refused outside a named network namespace');
  });

  it.each([[['bogus']], [[]], [['version', '--nope']], [['peers', '--timeout', '-1']], [['peers', '--interface', 'eth0']]])('cli - bad arguments %j exit 2 with a clear message', (args) => {
    const r = zmesh(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^zmesh: .+\nrun "zmesh --help" for usage/);
  });
});
