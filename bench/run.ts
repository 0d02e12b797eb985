/**
 * `npm run bench [-- --full] [--json] [--only reqrep,discovery]`: runs the benchmarks,
 * prints tables and the ratios against raw zeromq.js, and writes
 * bench/results/latest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CHECKOUT_FULL, CHECKOUT_QUICK, checkoutTable, runCheckout, type CheckoutRow } from './checkout.js';
import { runDiscovery, type DiscoveryRow } from './discovery.js';
import { discoveryTable, machine, ratios, reliableTable, table } from './lib/report.js';
import { RELIABLE_FULL, RELIABLE_QUICK, runReliable, type ReliableRow } from './reliable.js';
import { FULL, QUICK, runReqRep, type Row } from './reqrep.js';

const SCENARIOS = ['reqrep', 'reliable', 'checkout', 'discovery'] as const;

const { values } = parseArgs({
  options: {
    full: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    only: { type: 'string', default: SCENARIOS.join(',') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write([
    'usage: npm run bench [-- --full] [--json] [--only reqrep,reliable,checkout,discovery]',
    '  --full  longer runs (more samples)',
    '  --json  print the results as one JSON line at the end',
    '  --only  scenarios to run (discovery needs root: it builds a virtual LAN)',
    '',
  ].join('\n'));
  process.exit(0);
}
const only = values.only.split(',').map((s) => s.trim());
const unknown = only.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
if (unknown.length > 0) {
  process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; choose from ${SCENARIOS.join(', ')}\n`);
  process.exit(2);
}

// Benchmarks never run mDNS on the host's interfaces (children inherit this).
process.env['ZMESH_MDNS_FORBID_ROOT_NETNS'] = '1';

const progress = (line: string): void => { process.stderr.write(`… ${line}\n`); };
const started = new Date().toISOString();
const config = values.full ? FULL : QUICK;
const rows: Row[] = only.includes('reqrep') ? await runReqRep(config, progress) : [];
const reliable: ReliableRow[] = only.includes('reliable') ? await runReliable(values.full ? RELIABLE_FULL : RELIABLE_QUICK, progress) : [];
const checkout: CheckoutRow[] = only.includes('checkout') ? await runCheckout(values.full ? CHECKOUT_FULL : CHECKOUT_QUICK, progress) : [];
const discovery: DiscoveryRow[] | { skipped: string } = only.includes('discovery') ? await runDiscovery([3, 10, 30], progress) : [];
const result = { run: { started, mode: values.full ? 'full' : 'quick', config }, machine: machine(), rows, ratios: ratios(rows), reliable, checkout, discovery };

// Compiled to dist/bench/run.js; results belong in the source tree's bench/results/.
const resultsDir = new URL('../../bench/results/', import.meta.url);
mkdirSync(resultsDir, { recursive: true });
writeFileSync(new URL('latest.json', resultsDir), `${JSON.stringify(result, null, 2)}\n`);
if (rows.length > 0) {
  process.stderr.write(`\n${table(rows)}\n\n`);
  for (const [k, v] of Object.entries(result.ratios)) process.stderr.write(`${k}: ${v}x\n`);
}
if (reliable.length > 0) process.stderr.write(`\n${reliableTable(reliable)}\n`);
if (checkout.length > 0) process.stderr.write(`\n${checkoutTable(checkout)}\n`);
if (Array.isArray(discovery) && discovery.length > 0) process.stderr.write(`\n${discoveryTable(discovery)}\n`);
else if (!Array.isArray(discovery)) process.stderr.write(`\ndiscovery: skipped (${discovery.skipped})\n`);
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
