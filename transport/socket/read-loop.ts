/**
 * The receive loop of one socket. It never dies on bad input: each message is handled
 * inside its own try/catch, and the loop only ends when the socket is closed.
 */
import type * as zmq from 'zeromq';

interface Readable {
  receive(): Promise<Buffer[]>;
  readonly closed: boolean;
}

/** A loop that found a message ready on every receive() would never give the event
 *  loop a turn (each one resolves as a microtask): timers, heartbeats and other
 *  sockets would wait behind a burst. After this long without a turn, it yields one. */
export const READ_SLICE_MS = 4;

export async function readLoop(
  sock: Readable & zmq.Socket,
  onMessage: (frames: Buffer[]) => void,
  onError: (err: unknown) => void,
): Promise<void> {
  let sliceStart = performance.now();
  for (;;) {
    let frames: Buffer[];
    try {
      frames = await sock.receive();
    } catch (err) {
      if (sock.closed) return;
      // A receive error on an open socket is not expected from libzmq; report it and
      // yield a turn so a persistent fault cannot spin the event loop.
      onError(err);
      await new Promise((r) => setImmediate(r));
      continue;
    }
    try {
      onMessage(frames);
    } catch (err) {
      onError(err);
    }
    if (performance.now() - sliceStart > READ_SLICE_MS) {
      await new Promise((r) => setImmediate(r));
      sliceStart = performance.now();
      continue;
    }
    // Let the continuations onMessage just resolved (a caller awaiting its reply)
    // run first: they usually send the next message, and re-arming receive() here
    // would put a native poll set-up on that critical path.
    await Promise.resolve();
  }
}
