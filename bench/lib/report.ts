/** Formats bench rows as a terminal table plus ratios, and describes the machine. */
import { cpus, totalmem } from 'node:os';
import * as zmq from 'zeromq';
import type { DiscoveryRow } from '../discovery.js';
import type { ReliableRow } from '../reliable.js';

export function machine(): Record<string, string | number> {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    libzmq: zmq.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** A terminal table: padded columns under a rule. Every bench table goes through it. */
export function textTable(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)) + 2);
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w - 2))), ...body.map(line)].join('\n');
}
const num = (n: number | undefined): string => (n === undefined ? '-' : n >= 1000 ? Math.round(n).toLocaleString('en-US') : String(n));

export function reliableTable(rows: ReliableRow[]): string {
  const head = ['scenario', 'payload', 'msg/s', 'fsync/msg', 'p50 µs', 'p99 µs', 'p99.9 µs', 'clock stops when'];
  const body = rows.map((r) => [
    r.scenario, `${r.payloadBytes} B`, num(r.msgPerSec), r.fsyncsPerMsg === undefined ? '-' : r.fsyncsPerMsg.toFixed(4),
    num(r.latencyUs?.p50), num(r.latencyUs?.p99), num(r.latencyUs?.p999), r.clock,
  ]);
  return textTable(head, body);
}

export function discoveryTable(rows: DiscoveryRow[]): string {
  const head = ['scenario', 'nodes', 'ms', 'layout'];
  const body = rows.map((r) => [r.scenario, String(r.nodes), String(r.ms), r.layout]);
  return textTable(head, body);
}
