/** The reliable end-to-end rows as a terminal table, and the delivery targets. */
import type { E2eRow } from '../e2e.js';
import type { ReliableRow } from '../reliable.js';
import type { Target } from './matrix-report.js';
import { textTable } from './report.js';

const size = (b: number): string => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);
const num = (n: number | undefined): string => (n === undefined ? '-' : Math.round(n).toLocaleString('en-US'));
const per = (n: number | undefined): string => (n === undefined ? '-' : n.toFixed(4));
const round = (n: number): number => Math.round(n * 100) / 100;

export function e2eTable(rows: E2eRow[]): string {
  const head = ['system', 'payload', 'msgs', 'msg/s e2e', 'sends resolved/s', 'recv ELD p99 ms', 'fsync/msg sender', 'receiver', 'broker', 'status'];
  const body = rows.map((r) => [
    r.system, size(r.payloadBytes), num(r.ops), num(r.msgPerSec), num(r.sendsResolvedPerSec),
    r.receiverEldP99Ms === undefined ? '-' : r.receiverEldP99Ms.toFixed(2),
    per(r.fsyncsPerMsg?.sender), per(r.fsyncsPerMsg?.receiver), per(r.fsyncsPerMsg?.broker),
    r.status === 'ok'
      ? (r.fsyncs !== undefined && 'skipped' in r.fsyncs ? `ok (fsyncs not counted: ${r.fsyncs.skipped})` : 'ok')
      : `${r.status}${r.reason === undefined ? '' : `: ${r.reason}`}`,
  ]);
  return textTable(head, body);
}

const ok = (rows: E2eRow[], system: string, payloadBytes: number): E2eRow | undefined =>
  rows.find((r) => r.system === system && r.payloadBytes === payloadBytes && r.status === 'ok');

/** The delivery targets: end to end against the brokers at 100 B, the zmesh
 *  receiver's event-loop delay, and one command end to end with one in flight. */
export function deliveryTargets(e2e: E2eRow[], reliable: ReliableRow[]): Target[] {
  const B = 100;
  const out: Target[] = [];
  if (e2e.length > 0) {
    const z = ok(e2e, 'zmesh-reliable', B)?.msgPerSec;
    for (const [broker, label] of [['rabbitmq', 'RabbitMQ'], ['nats-jetstream', 'NATS JetStream']] as const) {
      const b = ok(e2e, broker, B)?.msgPerSec;
      const target = `zmesh reliable end to end (durability full) at least 3x ${label} end to end`;
      out.push(z && b
        ? { target, measured: `${num(z)} vs ${num(b)} msg/s = ${round(z / b)}x`, met: z >= 3 * b }
        : { target, measured: '-', met: 'not measured' });
    }
    const eld = ok(e2e, 'zmesh-reliable', B)?.receiverEldP99Ms;
    const target = 'zmesh receiver event-loop delay p99 under 20 ms during end to end (durability full)';
    out.push(eld !== undefined
      ? { target, measured: `${eld.toFixed(2)} ms`, met: eld < 20 }
      : { target, measured: '-', met: 'not measured' });
  }
  if (reliable.length > 0) {
    const l = reliable.find((r) => r.scenario === 'reliable-e2e-latency')?.latencyUs;
    const target = 'reliable command end to end, one in flight: p50 under 2 ms';
    out.push(l !== undefined
      ? { target, measured: `p50 ${(l.p50 / 1000).toFixed(2)} ms (p99 ${(l.p99 / 1000).toFixed(2)} ms)`, met: l.p50 < 2_000 }
      : { target, measured: '-', met: 'not measured' });
  }
  return out;
}
