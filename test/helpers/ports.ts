/** A TCP port nothing listens on right now on 127.0.0.1 (the kernel's pick, released
 *  again), for a node that must come back on the same port. */
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}
