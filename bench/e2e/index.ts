/** The systems of the reliable end-to-end scenario, in table order; each loaded on
 *  its own, so a receiver process imports only its own client library. */
import type { E2eSystem } from './types.js';

const LOADERS: Record<string, () => Promise<E2eSystem>> = {
  'zmesh-reliable': async () => (await import('./zmesh.js')).zmeshE2e('full'),
  'zmesh-reliable-os': async () => (await import('./zmesh.js')).zmeshE2e('os'),
  rabbitmq: async () => (await import('./rabbitmq.js')).rabbitmqE2e,
  'nats-jetstream': async () => (await import('./jetstream.js')).jetstreamE2e,
};

export const E2E_SYSTEMS = Object.keys(LOADERS);

export async function loadE2e(name: string): Promise<E2eSystem> {
  const load = LOADERS[name];
  if (load === undefined) throw new Error(`unknown end-to-end system "${name}"`);
  return load();
}
