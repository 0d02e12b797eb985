/**
 * The far side of a matrix measurement, in its own process: an RPC echo server, or a
 * subscriber that counts what arrives. Talks to the bench over IPC:
 *   -> ready {endpoint?}           once serving or subscribed
 *   -> probe                       (subscriber) the first probe message arrived
 *   <- wait {expected, idleMs,     (subscriber) answer when `expected` data messages
 *            reset}                arrived, or none arrived for idleMs; reset zeroes
 *   -> count {count, lastMs}       the count after answering (end of a warm-up)
 * Data messages are exactly payloadBytes long; probes are shorter.
 */
import { loadSystem } from '../systems/load.js';
import type { Params } from '../systems/types.js';

const { system, role, params } = JSON.parse(process.argv[2]!) as { system: string; role: 'rpc' | 'sub'; params: Params };
const sys = await loadSystem(system);
const now = (): number => performance.timeOrigin + performance.now();
const send = (m: unknown): void => { process.send?.(m); };

let count = 0;
let lastMs = 0;
let probed = false;
let closeable: { close(): Promise<void> } | undefined;

if (role === 'rpc') {
  const s = await sys.serveRpc!(params);
  closeable = s;
  send({ type: 'ready', endpoint: s.endpoint });
} else {
  closeable = await sys.subscribe!(params, (bytes) => {
    if (bytes.length === params.payloadBytes) {
      count++;
      lastMs = now();
    } else if (!probed) {
      probed = true;
      send({ type: 'probe' });
    }
  });
  send({ type: 'ready' });
}

process.on('message', (m: { type: string; expected: number; idleMs: number; reset: boolean }) => {
  if (m.type !== 'wait') return;
  let seen = count;
  let quietSince = now();
  const answer = (): void => {
    send({ type: 'count', count, lastMs });
    if (m.reset) count = 0;
  };
  const check = (): void => {
    if (count >= m.expected) return answer();
    if (count !== seen) { seen = count; quietSince = now(); }
    if (now() - quietSince > m.idleMs) return answer();
    setTimeout(check, 5);
  };
  check();
});

// Exits when told to or when the bench goes away, even if a client's close() hangs
// (a broker that is gone can leave one waiting forever).
const stop = async (): Promise<void> => {
  setTimeout(() => process.exit(0), 2_000).unref();
  await closeable?.close().catch(() => undefined);
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('disconnect', () => void stop());
