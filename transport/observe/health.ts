/**
 * The probes. Liveness: the node answers and is not closed (a probe that answers at
 * all proves the event loop turns). Readiness: it is worth sending traffic to, now:
 *
 *   check            ready when                               (only)
 *   started          start() resolved and close() not called
 *   store            the store is open and writable           with storePath
 *                    (not disk-full)
 *   service:<name>   an instance of <name> is up              each readiness service
 *   outbox           fewer than maxOutbox commands wait       with storePath
 *
 * What the HTTP server answers: 200 or 503, with a small JSON body naming the checks
 * that failed. Orchestrators read the status code only.
 */
import type { PeerInfo, ReliableStats } from '../types.js';

export type NodeState = 'new' | 'starting' | 'running' | 'closing' | 'closed';

/** What the probes read of a node. */
export interface HealthView {
  state(): NodeState;
  hasStore: boolean;
  reliableStats(): ReliableStats | undefined;
  peers(): PeerInfo[];
}

export interface ReadinessSettings {
  services: readonly string[];
  maxOutbox: number;
}

export interface Check {
  ok: boolean;
  detail?: string;
}

export interface Verdict {
  ok: boolean;
  /** Names of the checks that failed, in the table's order. */
  failed: string[];
  checks: Record<string, Check>;
}

const verdict = (checks: Record<string, Check>): Verdict => {
  const failed = Object.entries(checks).filter(([, c]) => !c.ok).map(([name]) => name);
  return { ok: failed.length === 0, failed, checks };
};

export function liveness(view: Pick<HealthView, 'state'>): Verdict {
  const state = view.state();
  const ok = state !== 'closing' && state !== 'closed';
  return verdict({ live: ok ? { ok } : { ok, detail: `node is ${state}` } });
}

export function readiness(view: HealthView, settings: ReadinessSettings): Verdict {
  const checks: Record<string, Check> = {};
  const state = view.state();
  checks.started = state === 'running' ? { ok: true } : { ok: false, detail: `node is ${state}` };
  const r = view.hasStore && state === 'running' ? view.reliableStats() : undefined;
  if (view.hasStore) {
    if (r === undefined) checks.store = { ok: false, detail: 'store not open' };
    else checks.store = r.store.diskFull ? { ok: false, detail: 'disk full: writes fail' } : { ok: true };
  }
  if (settings.services.length > 0) {
    const up = new Map<string, number>();
    for (const p of view.peers()) if (p.state === 'up') up.set(p.service, (up.get(p.service) ?? 0) + 1);
    for (const s of settings.services) {
      const n = up.get(s) ?? 0;
      checks[`service:${s}`] = n > 0 ? { ok: true, detail: `${n} up` } : { ok: false, detail: 'no instance up' };
    }
  }
  if (view.hasStore) {
    const pending = r?.pending;
    checks.outbox = pending === undefined ? { ok: false, detail: 'store not open' }
      : pending < settings.maxOutbox ? { ok: true, detail: `${pending} pending` }
        : { ok: false, detail: `${pending} pending, threshold ${settings.maxOutbox}` };
  }
  return verdict(checks);
}
