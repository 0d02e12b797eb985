/**
 * The observer seam (NodeComponents.observer), made safe: hooks run on the hot path,
 * and one that throws must never break delivery. Metrics and tracing plug in here.
 */
import type { Logger } from 'pino';
import type { NodeObserver } from './types.js';

/** Every hook present and guarded; undefined when there is no observer (the fast path). */
export function guardObserver(o: NodeObserver | undefined, log: Logger): Required<NodeObserver> | undefined {
  if (o === undefined) return undefined;
  const guard = <A extends unknown[]>(name: string, f: ((...a: A) => void) | undefined) => (...a: A): void => {
    try {
      f?.(...a);
    } catch (err) {
      log.warn({ err, hook: name }, 'node observer threw');
    }
  };
  return {
    dropped: guard('dropped', o.dropped?.bind(o)),
    requestSettled: guard('requestSettled', o.requestSettled?.bind(o)),
    handlerSettled: guard('handlerSettled', o.handlerSettled?.bind(o)),
    batchCommitted: guard('batchCommitted', o.batchCommitted?.bind(o)),
  };
}

/** One observer that tells each of several, in order (metrics, mesh summaries and the
 *  user's own all watch the same node); undefined when there are none. */
export function fanOut(observers: ReadonlyArray<NodeObserver | undefined>): NodeObserver | undefined {
  const list = observers.filter((o): o is NodeObserver => o !== undefined);
  if (list.length <= 1) return list[0];
  const each = <K extends keyof NodeObserver>(k: K): NodeObserver[K] => {
    const hooks = list.map((o) => o[k]?.bind(o)).filter((f) => f !== undefined) as Array<(...a: unknown[]) => void>;
    if (hooks.length === 0) return undefined;
    // Every hook runs even when one throws; the first throw is then passed on to
    // guardObserver, which logs it.
    return ((...a: unknown[]) => {
      let failure: { err: unknown } | undefined;
      for (const f of hooks) {
        try {
          f(...a);
        } catch (err) {
          failure ??= { err };
        }
      }
      if (failure !== undefined) throw failure.err;
    }) as NodeObserver[K];
  };
  return { dropped: each('dropped'), requestSettled: each('requestSettled'), handlerSettled: each('handlerSettled'), batchCommitted: each('batchCommitted') };
}
