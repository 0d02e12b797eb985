/**
 * The figures of `zmesh top` (and `zmesh status`) as text: plain functions with no
 * terminal library behind them, so the commands that only print load no UI.
 */
import { table } from '../format.js';
import type { NodeRow, Snapshot } from './model.js';

export const COLUMNS = ['NODE', 'SERVICE', 'STATE', 'UP', 'IN/s', 'OUT/s', 'P50ms', 'P99ms', 'ERR/s', 'INFL', 'OUTBOX', 'DEAD', 'LAG', 'DROPS', 'RSS', 'LOOP99', 'VERSION'] as const;

export function uptime(ms: number): string {
  const s = Math.floor(ms / 1_000);
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h${String(Math.floor((s % 3_600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3_600)).padStart(2, '0')}h`;
}

export function bytes(n: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = n;
  let i = 0;
  while (v >= 1_024 && i < units.length - 1) { v /= 1_024; i++; }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)}${units[i]}`;
}

/** 0 as "0", small figures with the precision they need, large ones whole. */
export function figure(n: number): string {
  if (n === 0) return '0';
  // Decided on the rounded value: 0.999 is "1.0", not "1.00"; 9.97 is "10".
  if (n >= 9.95) return String(Math.round(n));
  return n.toFixed(n >= 0.995 ? 1 : 2);
}

export function cells(r: NodeRow): string[] {
  return [
    r.nodeId, r.service, r.stale ? 'stale' : r.state, uptime(r.uptimeMs), figure(r.requestsInPerS), figure(r.requestsOutPerS),
    figure(r.handlerP50Ms), figure(r.handlerP99Ms), figure(r.errorsPerS), String(r.inFlight), String(r.outboxDepth), String(r.deadLetters),
    String(r.durableLag), String(r.dropsTotal), bytes(r.rssBytes), figure(r.eventLoopP99Ms), r.version,
  ];
}

/** The mesh totals, in two lines: who, then how busy. */
export function headline(s: Snapshot): [string, string] {
  const t = s.totals;
  return [
    `zmesh top  mesh "${s.mesh}"  nodes ${t.nodes}  services ${t.services}`,
    `req/s in ${figure(t.requestsInPerS)} out ${figure(t.requestsOutPerS)}  errors/s ${figure(t.errorsPerS)}  outbox ${t.outboxDepth}  dead letters ${t.deadLetters}`,
  ];
}

/** The rows of the node table, heading first, columns aligned. */
export function tableLines(rows: readonly NodeRow[]): string[] {
  return table([...COLUMNS], rows.map(cells)).split('\n');
}
