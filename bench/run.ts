/**
 * `npm run bench [-- --full] [--json]`: runs the benchmarks, prints a table and the
 * ratios against raw zeromq.js, and writes bench/results/latest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { machine, ratios, table } from './lib/report.js';
import { FULL, QUICK, runReqRep } from './reqrep.js';

const { values } = parseArgs({
  options: {
    full: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write('usage: npm run bench [-- --full] [--json]\n  --full  longer runs (more samples)\n  --json  print the results as one JSON line at the end\n');
  process.exit(0);
}

// Benchmarks never run mDNS on the host's interfaces (children inherit this).
process.env['ZMESH_MDNS_FORBID_ROOT_NETNS'] = '1';

const progress = (line: string): void => { process.stderr.write(`… ${line}\n`); };
const started = new Date().toISOString();
const config = values.full ? FULL : QUICK;
const rows = await runReqRep(config, progress);
const result = { run: { started, mode: values.full ? 'full' : 'quick', config }, machine: machine(), rows, ratios: ratios(rows) };

// Compiled to dist/bench/run.js; results belong in the source tree's bench/results/.
const resultsDir = new URL('../../bench/results/', import.meta.url);
mkdirSync(resultsDir, { recursive: true });
writeFileSync(new URL('latest.json', resultsDir), `${JSON.stringify(result, null, 2)}\n`);
process.stderr.write(`\n${table(rows)}\n\n`);
for (const [k, v] of Object.entries(result.ratios)) process.stderr.write(`${k}: ${v}x\n`);
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
