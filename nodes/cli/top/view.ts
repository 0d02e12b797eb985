/**
 * The `zmesh top` screen, in ink (React for the terminal): ink lays out and redraws,
 * nothing here writes escape codes. TopScreen is a pure function of a snapshot, for
 * the live view, `--once` and tests alike; TopApp adds the live part (redraw on new
 * summaries and every second, sort keys, q to quit).
 *
 * Written with createElement (`h`) rather than JSX, so the project's tsconfig needs
 * no JSX settings for one file.
 */
import { Box, Text, useApp, useInput, useStdin } from 'ink';
import { createElement as h, useEffect, useState, type ReactElement } from 'react';
import { table } from '../format.js';
import { SORT_BY_KEY, type NodeRow, type Snapshot, type SortKey } from './model.js';

/** The live view redraws at most this often when summaries pour in, ms. */
const REDRAW_MIN_MS = 200;
/** And at least this often, so ages and staleness move on a quiet mesh, ms. */
const REDRAW_EVERY_MS = 1_000;

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

/** One frame: the mesh totals, the keys, one row per node. */
export function TopScreen({ snapshot, sort, live = true }: { snapshot: Snapshot; sort: SortKey; live?: boolean }): ReactElement {
  const lines = table([...COLUMNS], snapshot.nodes.map(cells)).split('\n');
  const [who, busy] = headline(snapshot);
  return h(Box, { flexDirection: 'column' },
    h(Text, { bold: true, wrap: 'truncate-end' }, who),
    h(Text, { wrap: 'truncate-end' }, busy),
    h(Text, { dimColor: true, wrap: 'truncate-end' }, `sorted by ${sort}${live ? '   keys: s service  r req/s  l latency  o outbox  e errors  q quit' : ''}`),
    h(Text, { inverse: true, wrap: 'truncate-end' }, lines[0]!),
    ...snapshot.nodes.map((r, i) => h(Text, {
      key: r.nodeId, wrap: 'truncate-end', dimColor: r.stale,
      ...(r.stale ? { color: 'yellow' } : r.errorsPerS > 0 || r.deadLetters > 0 ? { color: 'red' } : {}),
    }, lines[i + 1]!)),
    ...(snapshot.nodes.length === 0 ? [h(Text, { key: 'none', dimColor: true }, 'no summaries yet')] : []),
  );
}

/** What the live view reads: the mesh as it stands, and word when it changed. */
export interface SummaryFeed {
  snapshot(nowMs: number, sort: SortKey): Snapshot;
  /** Calls `changed` whenever a summary arrives; returns the unsubscribe. */
  subscribe(changed: () => void): () => void;
}

export function TopApp({ feed, sort: initial, now = Date.now }: { feed: SummaryFeed; sort: SortKey; now?: () => number }): ReactElement {
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const [sort, setSort] = useState<SortKey>(initial);
  const [, setFrame] = useState(0);
  useEffect(() => {
    let pending: NodeJS.Timeout | undefined;
    const redraw = (): void => setFrame((f) => f + 1);
    const off = feed.subscribe(() => {
      pending ??= setTimeout(() => { pending = undefined; redraw(); }, REDRAW_MIN_MS);
    });
    const every = setInterval(redraw, REDRAW_EVERY_MS);
    return () => { off(); clearTimeout(pending); clearInterval(every); };
  }, [feed]);
  // Keys need raw mode, which a pipe has not: then q is Ctrl-C (or SIGTERM).
  useInput((input) => {
    if (input === 'q') exit();
    const key = SORT_BY_KEY[input];
    if (key !== undefined) setSort(key);
  }, { isActive: isRawModeSupported });
  return h(TopScreen, { snapshot: feed.snapshot(now(), sort), sort });
}
