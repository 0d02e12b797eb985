/**
 * `npm run lan -- run [--hosts N] -- <command...>`: runs a command inside host 1 of a
 * fresh virtual LAN (the other hosts are empty, for things that need peers), then
 * tears the LAN down, also on Ctrl-C. This is how `zmesh demo`, `zmesh node` and
 * `zmesh peers` run on machines where mDNS must not reach the real network.
 * `npm run lan -- clean` removes namespaces left by processes that died.
 */
import { parseArgs } from 'node:util';
import { createLan, sweepStale } from './vlan.js';

const [verb, ...rest] = process.argv.slice(2);
if (verb === 'clean') {
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
  console.error('usage: npm run lan -- run [--hosts N] -- <command...> | npm run lan -- clean');
  process.exit(2);
}
