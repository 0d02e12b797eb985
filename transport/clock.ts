/** The real clock, the default for NodeComponents.clock. */
import type { Clock } from './types.js';

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  monotonic: () => performance.now(),
});
