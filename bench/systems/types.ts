/**
 * One messaging system as the benchmark matrix sees it. Each system is measured
 * through the same three roles, with the client side in the bench process and the
 * other side in a child process (bench/servers/system-peer.ts):
 *
 *   rpc:      serveRpc (child) echoes;  rpcClient (bench) sends and awaits replies
 *   pub/sub:  publisher (bench);        subscribe (child) counts what arrives
 *   reliable: reliablePublisher (bench) resolves when the system says the message
 *             is safe (on disk, or acknowledged by the broker)
 *
 * A system leaves out what it does not offer; its rows say "n/a", never a stand-in.
 */
export interface Params {
  payloadBytes: number;
  /** Unique per measurement: topic, queue and subject names derive from it. */
  id: string;
  /** Where the other side is, for systems without a broker. */
  endpoint?: string;
}

export interface Closeable {
  close(): Promise<void>;
}

export interface RpcClient extends Closeable {
  request(payload: Buffer): Promise<void>;
}

export interface Publisher extends Closeable {
  /** The endpoint subscribers connect to (brokerless systems). */
  endpoint?: string;
  /** Publishes one message; may resolve at once (fire and forget). */
  publish(payload: Buffer): Promise<void> | void;
  /** Resolves when everything published so far has left this process. */
  flush(): Promise<void>;
  /** Most publishes left unresolved at once. Default 1 000. */
  window?: number;
}

export interface System {
  name: string;
  /** Client settings worth recording beside the results. */
  settings: string;
  /** Why the system cannot run here, or undefined when it can. */
  unavailable(): Promise<string | undefined>;
  version(): Promise<string>;
  serveRpc?(p: Params): Promise<Closeable & { endpoint?: string }>;
  rpcClient?(p: Params): Promise<RpcClient>;
  /** `onMessage` gets every message's bytes. */
  subscribe?(p: Params, onMessage: (bytes: Uint8Array) => void): Promise<Closeable>;
  publisher?(p: Params): Promise<Publisher>;
  reliablePublisher?(p: Params): Promise<Publisher>;
}

/** A FIFO of waiting requests, for clients whose replies come back in order. */
export class Fifo {
  private readonly waiting: Array<() => void> = [];
  private head = 0;
  push(resolve: () => void): void { this.waiting.push(resolve); }
  shift(): void {
    const r = this.waiting[this.head++];
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
    r?.();
  }
}

export async function portOpen(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
