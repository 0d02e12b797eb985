/**
 * `npm run demo [-- <zmesh demo options>]`: the Quick start. As root it runs `zmesh demo`
 * inside a fresh virtual LAN, so its mDNS never reaches the real network; without root
 * it runs `zmesh demo --static` on 127.0.0.1 (no mDNS at all).
 *
 * `npm run lan -- run [--hosts N] -- <command...>`: runs a command inside host 1 of a
 * fresh virtual LAN (the other hosts are empty, for things that need peers), then
 * tears the LAN down, also on Ctrl-C. This is how `zmesh demo`, `zmesh node` and
 * `zmesh peers` run on machines where mDNS must not reach the real network.
 * `npm run lan -- clean` removes namespaces left by processes that died.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLan, sweepStale } from './vlan.js';

const CLI = fileURLToPath(new URL('../../nodes/cli/main.js', import.meta.url));
const [verb, ...rest] = process.argv.slice(2);
if (verb === 'demo') {
  const args = rest[0] === '--' ? rest.slice(1) : rest;
  const root = process.getuid?.() === 0;
  const command = [process.execPath, CLI, 'demo', ...args, ...(root ? [] : ['--static'])];
  if (!root) console.error('not root: running the demo on 127.0.0.1 with static peers (as root it runs on a virtual LAN with mDNS)');
  const lan = root ? createLan({ hosts: 1 }) : undefined;
  if (lan !== undefined) console.error(`lan ${lan.name}: running zmesh demo in ${lan.hosts[0]!.ns} (${lan.hosts[0]!.address}), mDNS stays inside`);
  const child = lan === undefined
    ? spawn(command[0]!, command.slice(1), { stdio: 'inherit' })
    : lan.spawn(lan.hosts[0]!, command, { stdio: 'inherit' });
  const stop = (): void => { child.kill('SIGINT'); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  child.on('exit', (code, signal) => {
    lan?.destroy();
    process.exit(code ?? (signal === null ? 1 : 128 + 2));
  });
} else if (verb === 'clean') {
  const removed = sweepStale();
  console.log(removed.length === 0 ? 'nothing to clean' : `removed ${removed.join(', ')}`);
} else if (verb === 'run') {
  const split = rest.indexOf('--');
  const { values } = parseArgs({ args: split === -1 ? [] : rest.slice(0, split), options: { hosts: { type: 'string', default: '1' } } });
  const command = split === -1 ? rest : rest.slice(split + 1);
  const hosts = Number(values.hosts);
  if (command.length === 0 || !Number.isInteger(hosts) || hosts < 1 || hosts > 250) {
    console.error('usage: npm run lan -- run [--hosts N] -- <command...>');
    process.exit(2);
  }
  const lan = createLan({ hosts });
  const host = lan.hosts[0]!;
  console.error(`lan ${lan.name}: running in ${host.ns} (${host.address})`);
  const child = lan.spawn(host, command, { stdio: 'inherit' });
  const stop = (): void => { child.kill('SIGINT'); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  child.on('exit', (code, signal) => {
    lan.destroy();
    process.exit(code ?? (signal === null ? 1 : 128 + 2));
  });
} else {
  console.error('usage: npm run lan -- run [--hosts N] -- <command...> | npm run lan -- clean | npm run demo -- [demo options]');
  process.exit(2);
}
