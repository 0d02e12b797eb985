/** The comparison matrix as a terminal table, ratios, target checks and SVG charts. */
import type { PairRow } from '../pairs.js';
import type { MatrixRow, MatrixScenario } from '../matrix.js';
import { textTable } from './report.js';
import { barChart } from './svg.js';

const size = (b: number): string => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);
const num = (n: number | undefined): string => (n === undefined ? '-' : Math.round(n).toLocaleString('en-US'));

export function matrixTable(rows: MatrixRow[]): string {
  const head = ['scenario', 'system', 'payload', 'p50 µs', 'p99 µs', 'p99.9 µs', 'msg/s', 'dropped', 'status'];
  const body = rows.map((r) => [
    r.scenario, r.system, size(r.payloadBytes), num(r.latencyUs?.p50), num(r.latencyUs?.p99), num(r.latencyUs?.p999),
    num(r.msgPerSec), r.dropped === undefined ? '-' : String(r.dropped), r.status === 'ok' ? 'ok' : `${r.status}${r.reason === undefined ? '' : `: ${r.reason}`}`,
  ]);
  return textTable(head, body);
}

const find = (rows: MatrixRow[], scenario: MatrixScenario, system: string, payloadBytes: number): MatrixRow | undefined =>
  rows.find((r) => r.scenario === scenario && r.system === system && r.payloadBytes === payloadBytes && r.status === 'ok');

const round = (n: number): number => Math.round(n * 100) / 100;

/** zmesh (fast, or reliable for reliable-publish) against every other system, per
 *  scenario and payload: latency as zmesh/other (below 1 is better), throughput as
 *  zmesh/other (above 1 is better). */
export function matrixRatios(rows: MatrixRow[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) {
    if (r.status !== 'ok' || r.system.startsWith('zmesh')) continue;
    const mine = find(rows, r.scenario, r.scenario === 'reliable-publish' ? 'zmesh-reliable' : 'zmesh', r.payloadBytes);
    if (mine === undefined) continue;
    const key = `${r.scenario} ${size(r.payloadBytes)} zmesh/${r.system}`;
    if (r.scenario === 'rpc-latency' && mine.latencyUs && r.latencyUs) {
      out[`${key} p50`] = round(mine.latencyUs.p50 / r.latencyUs.p50);
      out[`${key} p99`] = round(mine.latencyUs.p99 / r.latencyUs.p99);
    } else if (mine.msgPerSec && r.msgPerSec) {
      out[`${key} msg/s`] = round(mine.msgPerSec / r.msgPerSec);
    }
  }
  return out;
}

export interface Target { target: string; measured: string; met: boolean | 'not measured' }

/** The targets of the benchmark issue, checked on this one run's rows: 100 B unless a
 *  target names its size. */
export function matrixTargets(rows: MatrixRow[], pairs: PairRow[] = []): Target[] {
  const B = 100;
  const out: Target[] = [];
  const zl = find(rows, 'rpc-latency', 'zmesh', B)?.latencyUs;
  for (const broker of ['rabbitmq', 'nats']) {
    const bl = find(rows, 'rpc-latency', broker, B)?.latencyUs;
    out.push(zl && bl
      ? { target: `zmesh request/reply p50 and p99 below ${broker}`, measured: `p50 ${zl.p50} vs ${bl.p50} µs, p99 ${zl.p99} vs ${bl.p99} µs`, met: zl.p50 < bl.p50 && zl.p99 < bl.p99 }
      : { target: `zmesh request/reply p50 and p99 below ${broker}`, measured: '-', met: 'not measured' });
  }
  const zp = find(rows, 'pubsub', 'zmesh', B)?.msgPerSec;
  const rp = find(rows, 'pubsub', 'raw-zeromq', B)?.msgPerSec;
  const np = find(rows, 'pubsub', 'nats', B)?.msgPerSec;
  out.push(zp && rp
    ? { target: 'zmesh pub/sub at least 2x raw zeromq.js (one message per send)', measured: `${num(zp)} vs ${num(rp)} msg/s = ${round(zp / rp)}x`, met: zp >= 2 * rp }
    : { target: 'zmesh pub/sub at least 2x raw zeromq.js (one message per send)', measured: '-', met: 'not measured' });
  out.push(zp && np
    ? { target: 'zmesh pub/sub at least half of NATS core', measured: `${num(zp)} vs ${num(np)} msg/s = ${round(zp / np)}x`, met: zp >= 0.5 * np }
    : { target: 'zmesh pub/sub at least half of NATS core', measured: '-', met: 'not measured' });
  const zr = find(rows, 'reliable-publish', 'zmesh-reliable', B)?.msgPerSec;
  const rr = find(rows, 'reliable-publish', 'rabbitmq', B)?.msgPerSec;
  out.push(zr && rr
    ? { target: 'zmesh reliable publish at least 3x RabbitMQ persistent + confirms', measured: `${num(zr)} vs ${num(rr)} msg/s = ${round(zr / rr)}x`, met: zr >= 3 * rr }
    : { target: 'zmesh reliable publish at least 3x RabbitMQ persistent + confirms', measured: '-', met: 'not measured' });
  // Large messages: every byte of a reliable publish goes through the WAL.
  const zr64 = find(rows, 'reliable-publish', 'zmesh-reliable', 65_536)?.msgPerSec;
  const rr64 = find(rows, 'reliable-publish', 'rabbitmq', 65_536)?.msgPerSec;
  const t64 = 'zmesh reliable publish at 64 KiB at least RabbitMQ persistent + confirms';
  out.push(zr64 && rr64
    ? { target: t64, measured: `${num(zr64)} vs ${num(rr64)} msg/s = ${round(zr64 / rr64)}x`, met: zr64 >= rr64 }
    : { target: t64, measured: '-', met: 'not measured' });
  // The trust issue: what security costs, measured beside insecure zmesh in this run.
  const sl = find(rows, 'rpc-latency', 'zmesh-secure', B)?.latencyUs;
  out.push(sl && zl
    ? { target: 'secure request/reply p50 within 1.15x of insecure zmesh', measured: `p50 ${sl.p50} vs ${zl.p50} µs = ${round(sl.p50 / zl.p50)}x`, met: sl.p50 <= 1.15 * zl.p50 }
    : { target: 'secure request/reply p50 within 1.15x of insecure zmesh', measured: '-', met: 'not measured' });
  for (const broker of ['rabbitmq', 'nats']) {
    const bl = find(rows, 'rpc-latency', broker, B)?.latencyUs;
    out.push(sl && bl
      ? { target: `secure request/reply p50 below ${broker} (no TLS)`, measured: `p50 ${sl.p50} vs ${bl.p50} µs`, met: sl.p50 < bl.p50 }
      : { target: `secure request/reply p50 below ${broker} (no TLS)`, measured: '-', met: 'not measured' });
  }
  // Interleaved pairs when they ran (pairs.ts says why single cells are not enough).
  const pair = pairs.find((p) => p.payloadBytes === B);
  const sp = find(rows, 'pubsub', 'zmesh-secure', B)?.msgPerSec;
  out.push(pair !== undefined
    ? { target: 'secure pub/sub at least 0.85x of insecure zmesh', measured: `median of ${pair.trials.length} interleaved pairs ${pair.median.ratio}x (range ${pair.min} to ${pair.max})`, met: pair.median.ratio >= 0.85 }
    : sp && zp
    ? { target: 'secure pub/sub at least 0.85x of insecure zmesh', measured: `${num(sp)} vs ${num(zp)} msg/s = ${round(sp / zp)}x`, met: sp >= 0.85 * zp }
    : { target: 'secure pub/sub at least 0.85x of insecure zmesh', measured: '-', met: 'not measured' });
  return out;
}

const TITLES: Record<MatrixScenario, [string, string]> = {
  'rpc-latency': ['Request/reply round trip, one in flight (bar p50, whisker p99)', 'µs'],
  'rpc-throughput': ['Request/reply throughput, 100 in flight', 'replies/s'],
  pubsub: ['Pub/sub throughput, 1 publisher to 1 subscriber (arrived)', 'msg/s'],
  fanout: ['Fan-out throughput, 1 publisher to 3 subscribers (deliveries)', 'msg/s'],
  'reliable-publish': ['Reliable publish throughput, resolved when safe', 'msg/s'],
};

/** One SVG per scenario, keyed by file name. */
export function matrixCharts(rows: MatrixRow[], subtitle: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const scenario of Object.keys(TITLES) as MatrixScenario[]) {
    const mine = rows.filter((r) => r.scenario === scenario && r.status !== 'n/a');
    if (mine.length === 0) continue;
    const payloads = [...new Set(mine.map((r) => r.payloadBytes))];
    const latency = scenario === 'rpc-latency';
    files[`${scenario}.svg`] = barChart({
      title: TITLES[scenario][0],
      subtitle,
      unit: TITLES[scenario][1],
      groups: payloads.map((p) => ({
        label: size(p),
        bars: mine.filter((r) => r.payloadBytes === p).map((r) => r.status !== 'ok'
          ? { system: r.system, value: 0, note: r.status }
          : latency
            ? { system: r.system, value: r.latencyUs!.p50, whisker: r.latencyUs!.p99 }
            : { system: r.system, value: r.msgPerSec ?? 0 }),
      })),
    });
  }
  return files;
}
