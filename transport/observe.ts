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
  return { dropped: guard('dropped', o.dropped?.bind(o)), requestSettled: guard('requestSettled', o.requestSettled?.bind(o)) };
}
