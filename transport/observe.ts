/**
 * The observer seam (NodeComponents.observer), made safe: hooks run on the hot path,
 * and one that throws must never break delivery. Metrics and tracing plug in here.
 */
import type { Logger } from 'pino';
import type { NodeObserver } from './types.js';

/** The hooks present, each guarded; undefined when there is no observer (the fast
 *  path). A hook nobody gave stays absent, so that its call site skips the work of
 *  preparing its arguments (reading the clock, say). */
export function guardObserver(o: NodeObserver | undefined, log: Logger): NodeObserver | undefined {
  if (o === undefined) return undefined;
  // Fixed arity, no rest parameters: no array is made per call (hooks take up to 4).
  type Hook = (a: unknown, b: unknown, c: unknown, d: unknown) => void;
  const guard = <F>(name: string, f: F | undefined): F | undefined => {
    if (f === undefined) return undefined;
    const g = (f as unknown as Hook).bind(o);
    return ((a: unknown, b: unknown, c: unknown, d: unknown): void => {
      try {
        g(a, b, c, d);
      } catch (err) {
        log.warn({ err, hook: name }, 'node observer threw');
      }
    }) as unknown as F;
  };
  return {
    dropped: guard('dropped', o.dropped),
    requestSettled: guard('requestSettled', o.requestSettled),
    handlerSettled: guard('handlerSettled', o.handlerSettled),
    batchCommitted: guard('batchCommitted', o.batchCommitted),
  };
}

/** One observer that tells each of several, in order (metrics, mesh summaries and the
 *  user's own all watch the same node); undefined when there are none. */
export function fanOut(observers: ReadonlyArray<NodeObserver | undefined>): NodeObserver | undefined {
  const list = observers.filter((o): o is NodeObserver => o !== undefined);
  if (list.length <= 1) return list[0];
  const each = <K extends keyof NodeObserver>(k: K): NodeObserver[K] => {
    const hooks = list.filter((o) => o[k] !== undefined).map((o) => (o[k] as unknown as (a: unknown, b: unknown, c: unknown, d: unknown) => void).bind(o));
    if (hooks.length === 0) return undefined;
    if (hooks.length === 1) return hooks[0] as unknown as NodeObserver[K];
    // Every hook runs even when one throws; the first throw is then passed on to
    // guardObserver, which logs it.
    return ((a: unknown, b: unknown, c: unknown, d: unknown) => {
      let failure: { err: unknown } | undefined;
      for (const f of hooks) {
        try {
          f(a, b, c, d);
        } catch (err) {
          failure ??= { err };
        }
      }
      if (failure !== undefined) throw failure.err;
    }) as unknown as NodeObserver[K];
  };
  return { dropped: each('dropped'), requestSettled: each('requestSettled'), handlerSettled: each('handlerSettled'), batchCommitted: each('batchCommitted') };
}
