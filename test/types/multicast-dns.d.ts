// Minimal typings for the parts of multicast-dns the test fixtures use.
declare module 'multicast-dns' {
  interface Mdns {
    on(event: 'ready', fn: () => void): void;
    respond(packet: unknown, cb?: (err?: Error) => void): void;
    destroy(cb?: () => void): void;
  }
  export default function makeMdns(opts?: Record<string, unknown>): Mdns;
}
