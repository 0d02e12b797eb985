/**
 * `zmesh top`: a live view of the whole mesh, gathered over the mesh. Every member
 * publishes a summary of itself each second on "$zmesh/summary" (proto/README.md
 * section 18); top joins as a light client (like zmesh watch), subscribes, and shows
 * one row per node with the mesh's totals above. Nothing is scraped, and no node is
 * asked anything.
 *
 * --once prints one snapshot and exits: as a table, or with --json as one JSON object
 * { mesh, takenAtMs, totals, nodes: [...] }. It waits until every node it sees up has
 * sent a summary, or for 2.5 summary intervals (the longest one seen, 1 s by default;
 * at most ONCE_WAIT_MAX_MS), whichever comes first.
 *
 * Exit codes as the other commands: 0, 1 when no node of the mesh answered within
 * --wait seconds (ZMESH_ERR_TIMEOUT) or, with --once, when nodes answered but none sent
 * a summary (summaries off), 2 for bad usage.
 */
import type { Argv, CommandModule } from 'yargs';
import { SUMMARY_INTERVAL_MS, TimeoutError, type MeshNode } from 'zmesh';
import { credentialOptions, type CredentialArgs } from '../credentials.js';
import { findService, howWeLooked, joinMesh } from '../mesh-client.js';
import { meshOptions, type MeshArgs } from '../options.js';
import { guarded } from '../run.js';
import { MeshView, SORT_KEYS, type SortKey } from '../top/model.js';
// Types only: the view (and ink) is loaded when something is drawn.
import type { SummaryFeed } from '../top/view.js';

interface Args extends MeshArgs, CredentialArgs {
  once: boolean;
  json: boolean;
  sort: SortKey;
  wait: number;
}

/** --once waits this many summary intervals for every node's summary... */
const ONCE_INTERVALS = 2.5;
/** ...and never longer than this, whatever interval a node reports. */
const ONCE_WAIT_MAX_MS = 60_000;
/** Width of a --once table when stdout is no terminal. */
const PIPE_COLUMNS = 160;

export const topCommand: CommandModule<object, Args> = {
  command: 'top',
  describe: 'a live view of every node of the mesh: rates, latency, queues, memory (or one snapshot with --once)',
  builder: (y: Argv) => credentialOptions(meshOptions(y
    .option('once', { type: 'boolean', default: false, describe: 'print one snapshot and exit' })
    .option('json', { type: 'boolean', default: false, describe: 'with --once: print it as one JSON object' })
    .option('sort', { type: 'string', requiresArg: true, choices: SORT_KEYS, default: 'service' as SortKey, describe: 'order of the rows (live: keys s r l o e)' })
    .option('wait', { type: 'number', requiresArg: true, default: 5, describe: 'seconds to wait for a first node of the mesh; none: exit 1' })))
    .check((a) => {
      if (a.json && !a.once) throw new Error('--json needs --once: the live view is for a terminal');
      if (!Number.isFinite(a.wait) || a.wait <= 0 || a.wait > 600) throw new Error('--wait must be a number of seconds between 0 and 600');
      return true;
    }) as unknown as Argv<Args>,
  handler: guarded(async (args: Args) => {
    const node = await joinMesh(args, 'top');
    try {
      await findService(node, undefined, args, ': nothing to show');
      const view = new MeshView(args.mesh);
      const told = new Set<() => void>();
      await node.watchSummaries((s) => {
        view.add(s, Date.now());
        for (const f of told) f();
      });
      const feed: SummaryFeed = {
        snapshot: (nowMs, sort) => view.snapshot(nowMs, sort),
        subscribe: (changed) => { told.add(changed); return () => told.delete(changed); },
      };
      if (args.once) await once(node, view, feed, args);
      else await (await import('../top/view.js')).runLive(feed, args.sort);
    } finally {
      await node.close();
    }
  }),
};

async function once(node: MeshNode, view: MeshView, feed: SummaryFeed, args: Args): Promise<void> {
  await gathered(node, view, feed);
  const snapshot = view.snapshot(Date.now(), args.sort);
  if (snapshot.nodes.length === 0) {
    const up = node.peers().filter((p) => p.state === 'up').length;
    throw new TimeoutError(`${up} node(s) answered on ${howWeLooked(args)}, but none sent a summary (are summaries off, summaryIntervalMs 0?)`);
  }
  if (args.json) console.log(JSON.stringify(snapshot));
  else console.log((await import('../top/view.js')).frame(snapshot, args.sort, process.stdout.columns ?? PIPE_COLUMNS));
}

/** Resolves once every node up has a summary in `view`, or at the bounded wait. */
async function gathered(node: MeshNode, view: MeshView, feed: SummaryFeed): Promise<void> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let off: (() => void) | undefined;
  try {
    await new Promise<void>((resolve) => {
      const check = (): void => {
        const waitMs = Math.min(ONCE_WAIT_MAX_MS, ONCE_INTERVALS * Math.max(SUMMARY_INTERVAL_MS, view.longestIntervalMs()));
        const up = node.peers().filter((p) => p.state === 'up');
        if ((view.size > 0 && up.every((p) => view.has(p.nodeId))) || Date.now() - started >= waitMs) return resolve();
        clearTimeout(timer);
        timer = setTimeout(check, Math.max(1, started + waitMs - Date.now()));
      };
      off = feed.subscribe(check);
      check();
    });
  } finally {
    off?.();
    clearTimeout(timer);
  }
}
