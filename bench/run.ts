/**
 * `npm run bench [-- --full] [--json] [--only ...] [--systems ...]`: runs the
 * benchmarks, prints tables, ratios and target checks, and writes
 * bench/results/latest.json and one SVG chart per matrix scenario.
 *
 * Scenarios: the comparison matrix (rpc-latency, rpc-throughput, pubsub, fanout,
 * reliable-publish; "matrix" for all five), pairs (secure beside insecure pub/sub in
 * interleaved trials, pairs.ts), reliable (zmesh's reliable class in
 * detail), reliable-e2e (reliable messages sent, applied by the receiver and
 * acknowledged, zmesh beside RabbitMQ and NATS JetStream, e2e.ts), checkout (the commerce saga end to end), discovery (mDNS on a virtual LAN;
 * needs root), tracing (request/reply p50 with tracing off, the OpenTelemetry API with no
 * SDK, and an SDK tracer, interleaved; tracing.ts), metrics (what metrics cost: on, off
 * and the build before them, interleaved; metrics-cost.ts). Brokers come from
 * bench/brokers.sh up; absent ones are marked skipped.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CHECKOUT_FULL, CHECKOUT_QUICK, checkoutChart, checkoutTable, runCheckout, type CheckoutRow } from './checkout.js';
import { runDiscovery, type DiscoveryRow } from './discovery.js';
import { matrixCharts, matrixRatios, matrixTable, matrixTargets } from './lib/matrix-report.js';
import { E2E_FULL, E2E_QUICK, runE2e } from './e2e.js';
import { E2E_SYSTEMS } from './e2e/index.js';
import { deliveryTargets, e2eTable } from './lib/e2e-report.js';
import { discoveryTable, machine, reliableTable } from './lib/report.js';
import { MATRIX_FULL, MATRIX_QUICK, MATRIX_SCENARIOS, runMatrix, type MatrixScenario } from './matrix.js';
import { METRICS_FULL, METRICS_QUICK, metricsCostTable, runMetricsCost, type MetricsCostResult } from './metrics-cost.js';
import { PAIRS_FULL, PAIRS_QUICK, pairsTable, runPairs, type PairRow } from './pairs.js';
import { RELIABLE_FULL, RELIABLE_QUICK, runReliable, type ReliableRow } from './reliable.js';
import { SYSTEMS } from './systems/index.js';
import { TRACING_FULL, TRACING_QUICK, runTracing, tracingTable, type TracingRow } from './tracing.js';

const OTHER = ['pairs', 'reliable', 'reliable-e2e', 'checkout', 'discovery', 'tracing', 'metrics'] as const;
const ALL = ['matrix', ...MATRIX_SCENARIOS, ...OTHER];
/** The matrix's systems, then those only the end-to-end scenario has. */
const SYSTEM_NAMES = [...new Set([...SYSTEMS.map((s) => s.name), ...E2E_SYSTEMS])];

const { values } = parseArgs({
  options: {
    full: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    only: { type: 'string', default: ['matrix', ...OTHER].join(',') },
    systems: { type: 'string', default: SYSTEM_NAMES.join(',') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write([
    'usage: npm run bench [-- --full] [--json] [--only SCENARIOS] [--systems SYSTEMS]',
    '  --full     longer runs (more samples)',
    '  --json     print the results as one JSON line at the end (they are also in bench/results/latest.json)',
    `  --only     comma-separated, from: ${ALL.join(', ')}`,
    `  --systems  comma-separated, from: ${SYSTEM_NAMES.join(', ')}`,
    `             (reliable-e2e runs: ${E2E_SYSTEMS.join(', ')})`,
    '  Brokers: bench/brokers.sh up starts RabbitMQ, NATS (with JetStream) and Mosquitto on 127.0.0.1; without them their rows are "skipped".',
    '  reliable-e2e counts fsyncs with strace (/usr/bin/strace) in a separate, untimed pass; without it those columns are "-".',
    '',
  ].join('\n'));
  process.exit(0);
}
const only = values.only.split(',').map((s) => s.trim()).filter(Boolean);
const systems = values.systems.split(',').map((s) => s.trim()).filter(Boolean);
const bad = [...only.filter((s) => !ALL.includes(s)), ...systems.filter((s) => !SYSTEM_NAMES.includes(s))];
if (bad.length > 0) {
  process.stderr.write(`unknown scenario or system: ${bad.join(', ')}; see npm run bench -- --help\n`);
  process.exit(2);
}

// Benchmarks never run mDNS on the host's interfaces (children inherit this).
process.env['ZMESH_MDNS_FORBID_ROOT_NETNS'] = '1';

// A live line on a terminal, plain lines otherwise.
const tty = process.stderr.isTTY === true;
const progress = (line: string): void => {
  if (tty) process.stderr.write(`\r\x1b[K… ${line}`);
  else process.stderr.write(`… ${line}\n`);
};
const endProgress = (): void => { if (tty) process.stderr.write('\r\x1b[K'); };

const started = new Date().toISOString();
const mode = values.full ? 'full' : 'quick';
const matrixScenarios = MATRIX_SCENARIOS.filter((s) => only.includes('matrix') || only.includes(s)) as MatrixScenario[];
const matrixConfig = values.full ? MATRIX_FULL : MATRIX_QUICK;
const matrix = matrixScenarios.length > 0
  ? await runMatrix(matrixConfig, { systems, scenarios: matrixScenarios, progress })
  : { rows: [], versions: {}, settings: {} };
// Pairs need both zmesh systems; a --systems run without them skips it.
const pairsWanted = only.includes('pairs') && systems.includes('zmesh') && systems.includes('zmesh-secure');
// A scenario that fails is reported as failed, with its reason: the others' results
// (minutes of measurement) are still written.
const failures: Record<string, string> = {};
async function guarded<T>(name: string, wanted: boolean, run: () => Promise<T>, none: T): Promise<T> {
  if (!wanted) return none;
  try {
    return await run();
  } catch (err) {
    failures[name] = err instanceof Error ? err.message : String(err);
    progress(`${name}: FAILED: ${failures[name]}`);
    return none;
  }
}
const pairs: PairRow[] = await guarded('pairs', pairsWanted, () => runPairs(matrixConfig, values.full ? PAIRS_FULL : PAIRS_QUICK, progress), []);
const reliable: ReliableRow[] = await guarded('reliable', only.includes('reliable'), () => runReliable(values.full ? RELIABLE_FULL : RELIABLE_QUICK, progress), []);
const e2e = await guarded('reliable-e2e', only.includes('reliable-e2e'), () => runE2e(values.full ? E2E_FULL : E2E_QUICK, { systems, progress }), { rows: [], versions: {}, settings: {} });
const checkout: CheckoutRow[] = await guarded('checkout', only.includes('checkout'), () => runCheckout(values.full ? CHECKOUT_FULL : CHECKOUT_QUICK, progress), []);
const discovery: DiscoveryRow[] | { skipped: string } = await guarded('discovery', only.includes('discovery'), () => runDiscovery([3, 10, 30], progress), []);
const tracing: TracingRow[] = await guarded('tracing', only.includes('tracing'), () => runTracing(values.full ? TRACING_FULL : TRACING_QUICK, progress), []);
const metricsCost: MetricsCostResult | undefined = await guarded('metrics', only.includes('metrics'), () => runMetricsCost(values.full ? METRICS_FULL : METRICS_QUICK, progress), undefined);
endProgress();

const host = machine();
const result = {
  run: { started, finished: new Date().toISOString(), mode, matrixConfig, ...(e2e.rows.length > 0 ? { e2eConfig: values.full ? E2E_FULL : E2E_QUICK } : {}) },
  machine: host,
  versions: { ...e2e.versions, ...matrix.versions },
  settings: matrix.settings,
  matrix: matrix.rows,
  ratios: matrixRatios(matrix.rows),
  targets: [...(matrix.rows.length > 0 || pairs.length > 0 ? matrixTargets(matrix.rows, pairs) : []), ...deliveryTargets(e2e.rows, reliable)],
  pairs,
  reliable,
  e2e: e2e.rows,
  e2eSettings: e2e.settings,
  checkout,
  discovery,
  tracing,
  ...(metricsCost === undefined ? {} : { metricsCost }),
  failures,
};

// Compiled to dist/bench/run.js; results belong in the source tree's bench/results/.
// A run of a subset (--only, --systems) goes to bench/results/partial/, so that it
// never replaces the complete run that README quotes.
const complete = values.only === ['matrix', ...OTHER].join(',') && SYSTEM_NAMES.every((s) => systems.includes(s));
const resultsDir = new URL(complete ? '../../bench/results/' : '../../bench/results/partial/', import.meta.url);
mkdirSync(resultsDir, { recursive: true });
writeFileSync(new URL('latest.json', resultsDir), `${JSON.stringify(result, null, 2)}\n`);
const subtitle = `${started.slice(0, 16).replace('T', ' ')} UTC, ${host['cores']} × ${String(host['cpu']).split(' ').slice(0, 3).join(' ')}`;
const charts = matrixCharts(matrix.rows, subtitle);
if (checkout.length > 0) charts['checkout.svg'] = checkoutChart(checkout, subtitle);
for (const [file, svg] of Object.entries(charts)) writeFileSync(new URL(file, resultsDir), svg);

// The tables are the run's output: stdout, where `npm run bench > file` catches them
// (progress stays on stderr). With --json, stdout carries the JSON alone, so a reader
// can parse it; the tables go to stderr then.
const out = (s: string): void => { (values.json ? process.stderr : process.stdout).write(`${s}\n`); };
if (pairs.length > 0) out(`\n${pairsTable(pairs)}`);
if (tracing.length > 0) out(`\n${tracingTable(tracing)}`);
if (matrix.rows.length > 0) out(`\n${matrixTable(matrix.rows)}\n`);
if (e2e.rows.length > 0) out(`\nreliable end to end (sent, applied by the receiver in its transaction, acknowledged; ${(values.full ? E2E_FULL : E2E_QUICK).window} in flight):\n${e2eTable(e2e.rows)}\n`);
if (reliable.length > 0) out(`\n${reliableTable(reliable)}\n`);
if (result.targets.length > 0) {
  out('targets (this run; 100 B unless a target names its size):');
  for (const t of result.targets) out(`  ${t.met === true ? 'met    ' : t.met === false ? 'MISSED ' : 'n/m    '} ${t.target}: ${t.measured}`);
}
const where = complete ? 'bench/results' : 'bench/results/partial';
out(`results: ${where}/latest.json${Object.keys(charts).length > 0 ? `; charts: ${Object.keys(charts).map((f) => `${where}/${f}`).join(', ')}` : ''}`);
if (checkout.length > 0) out(`\n${checkoutTable(checkout)}`);
if (Array.isArray(discovery) && discovery.length > 0) out(`\n${discoveryTable(discovery)}`);
else if (!Array.isArray(discovery)) out(`\ndiscovery: skipped (${discovery.skipped})`);
if (metricsCost !== undefined) out(`\n${metricsCostTable(metricsCost)}`);
for (const [name, why] of Object.entries(failures)) out(`\n${name}: FAILED: ${why}`);
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
if (Object.keys(failures).length > 0) process.exitCode = 1;
