/**
 * The `zmesh top` screen, in ink (React for the terminal): ink lays out and redraws,
 * nothing here writes escape codes. TopScreen is a pure function of a snapshot, for
 * the live view, `--once` and tests alike; TopApp adds the live part (redraw on new
 * summaries and every second, sort keys, q to quit).
 *
 * Written with createElement (`h`) rather than JSX, so the project's tsconfig needs
 * no JSX settings for one file. ink takes a third of a second to load: the top
 * command imports this module only when it draws.
 */
import { Box, Text, render, renderToString, useApp, useInput, useStdin } from 'ink';
import { createElement as h, useEffect, useState, type ReactElement } from 'react';
import { headline, tableLines } from './format.js';
import { SORT_BY_KEY, type Snapshot, type SortKey } from './model.js';

/** The live view redraws at most this often when summaries pour in, ms. */
const REDRAW_MIN_MS = 200;
/** And at least this often, so ages and staleness move on a quiet mesh, ms. */
const REDRAW_EVERY_MS = 1_000;

/** One frame: the mesh totals, the keys, one row per node. */
export function TopScreen({ snapshot, sort, live = true }: { snapshot: Snapshot; sort: SortKey; live?: boolean }): ReactElement {
  const lines = tableLines(snapshot.nodes);
  const [who, busy] = headline(snapshot);
  return h(Box, { flexDirection: 'column' },
    h(Text, { bold: true, wrap: 'truncate-end' }, who),
    h(Text, { wrap: 'truncate-end' }, busy),
    h(Text, { dimColor: true, wrap: 'truncate-end' }, `sorted by ${sort}${live ? '   keys: s service  r req/s  l latency  o outbox  e errors  q quit' : ''}`),
    h(Text, { inverse: true, wrap: 'truncate-end' }, lines[0]!),
    ...snapshot.nodes.map((r, i) => h(Text, {
      key: r.nodeId, wrap: 'truncate-end', dimColor: r.stale,
      ...(r.stale ? { color: 'yellow' } : r.errorsPerS > 0 || r.deadLetters > 0 || r.eventsLost > 0 ? { color: 'red' } : {}),
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

/** A --once table: the same screen, rendered by ink into a string of `columns`. */
export function frame(snapshot: Snapshot, sort: SortKey, columns: number): string {
  return renderToString(h(TopScreen, { snapshot, sort, live: false }), { columns });
}

/** Runs the live view until q, Ctrl-C, SIGINT or SIGTERM. */
export async function runLive(feed: SummaryFeed, sort: SortKey): Promise<void> {
  const app = render(h(TopApp, { feed, sort }), { exitOnCtrlC: true });
  const onSignal = (): void => app.unmount();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await app.waitUntilExit();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
