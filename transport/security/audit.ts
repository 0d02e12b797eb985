/**
 * The audit trail of a secure node: one structured event per trust decision that went
 * against someone, at a stable schema ("zmesh.audit.v1"), to the pino logger (warn)
 * and, when configured, appended to a JSON-lines file.
 *
 * Events are rate-limited per (event, peer): a flood of forged messages costs a
 * counter increment each, not a line each; the next line says how many were folded.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger } from 'pino';

export const AUDIT_SCHEMA = 'zmesh.audit.v1';
/** At most one line per (event, peer) per this period. */
export const AUDIT_INTERVAL_MS = 5_000;

/** Who an event is about: whatever of it is known at that point. */
export interface AuditPeer {
  nodeId?: string;
  /** 16 hex characters: the first 64 bits of SHA-256 over the peer's public key. */
  fingerprint?: string;
  /** IP address (from ZAP) or endpoint (a link's). */
  address?: string;
}

export type AuditEvent =
  | { event: 'handshake.rejected'; peer: AuditPeer; reason: HandshakeRejection; detail: string }
  | { event: 'message.denied'; peer: AuditPeer; kind: string; target: string; detail: string }
  | { event: 'sender.mismatch'; peer: AuditPeer; claimed: string; detail: string }
  | { event: 'certificate.expiring'; peer: AuditPeer; serial: number; notAfterMs: number; remainingMs: number }
  | { event: 'peer.key-changed'; peer: AuditPeer; previousFingerprint: string };

export type HandshakeRejection =
  | 'unknown-key' | 'bad-certificate' | 'expired' | 'revoked' | 'other-mesh' | 'wrong-key' | 'bad-mac' | 'unknown-authority';

export interface Audit {
  record(e: AuditEvent): void;
  /** Events recorded (before rate limiting), by name. */
  readonly counts: Readonly<Record<AuditEvent['event'], number>>;
  close(): Promise<void>;
}

export function createAudit(o: { nodeId: string; log: Logger; file?: string | undefined; now?: () => number }): Audit {
  const now = o.now ?? Date.now;
  const log = o.log.child({ component: 'audit' });
  const counts = { 'handshake.rejected': 0, 'message.denied': 0, 'sender.mismatch': 0, 'certificate.expiring': 0, 'peer.key-changed': 0 };
  const last = new Map<string, { at: number; folded: number }>();
  let out: WriteStream | undefined = o.file === undefined ? undefined : createWriteStream(o.file, { flags: 'a', mode: 0o600 });
  out?.on('error', (err) => {
    log.error({ err, file: o.file }, 'audit file cannot be written; audit continues in the log only');
    out = undefined;
  });
  return {
    counts,
    record(e) {
      counts[e.event]++;
      const key = `${e.event}/${e.peer.nodeId ?? ''}/${e.peer.fingerprint ?? ''}/${e.peer.address ?? ''}`;
      const t = now();
      const seen = last.get(key);
      if (seen !== undefined && t - seen.at < AUDIT_INTERVAL_MS) {
        seen.folded++;
        return;
      }
      last.set(key, { at: t, folded: 0 });
      if (last.size > 10_000) last.clear(); // a key per forged identity must not grow without bound
      const line = { schema: AUDIT_SCHEMA, time: new Date(t).toISOString(), node: o.nodeId, ...e, folded: seen?.folded ?? 0 };
      log.warn(line, e.event);
      out?.write(`${JSON.stringify(line)}\n`);
    },
    close: () => new Promise<void>((resolve) => {
      if (out === undefined) return resolve();
      out.end(() => resolve());
    }),
  };
}
