/**
 * The trust state of one secure node: its own credentials, the peers whose
 * credentials checked out (members), and every decision made on them. The layers ask
 * it; it never sends anything itself.
 *
 *   ZAP (CURVE handshake)   router domain: any key that is not revoked (certificate
 *                           mode: the certificate comes in the HELLO), or only listed
 *                           keys (authorized-keys mode); pub domain: members only
 *   HELLO / WELCOME         admit(): certificate (or key list), node id derived from
 *                           the key, and the key the connection or MAC proves
 *   a connection to us      bindingKey(): the BIND frame that opens it names a key that
 *                           ZAP just let in and proves it; messages on it need no MAC
 *   every other message     open(): the MAC keyed by DH(our key, the sender's key)
 *   what it may do          mayCall / mayPublish / maySubscribe, on its permissions
 *   time passing            tick(): expired or revoked members are evicted
 *
 * A member is always identified by its key: node ids are `<service>-<fingerprint>`,
 * so no member can take another's id.
 */
import { statSync, readFileSync } from 'node:fs';
import { SecurityError, type SecurityProblem } from '../errors.js';
import { SUMMARY_TOPIC } from '../names.js';
import type { SecuritySettings } from '../options.js';
import type { Clock } from '../types.js';
import type { Audit, AuditPeer, HandshakeRejection } from './audit.js';
import { verifyCertificate, verifyRevocationList } from './certificate.js';
import { keyBytes, keyFingerprint, keyText, nodeIdFor } from './keys.js';
import { bindFrame, bindFrameKey, macKey, openHeader, sealHeader, verifyBindFrame } from './mac.js';
import { mayCall, mayPublish, maySubscribe, type Permissions } from './permissions.js';

/** How long before its expiry a node starts warning that its certificate runs out. */
export const EXPIRY_WARNING_MS = 7 * 24 * 3_600_000;
/** Keys remembered from ZAP handshakes on the ROUTER, for the BIND frame that follows
 *  each one; the oldest are forgotten first. */
const ZAP_SEEN_MAX = 4_096;
/** Topics whose publish decision is remembered per member (then they start over). */
const PUBLISH_DECISIONS_CACHED = 1_024;
/** Derived MAC keys cached; the oldest are derived again when needed. */
const MAC_KEYS_CACHED = 4_096;
/** At most one expiry warning per this period. */
const EXPIRY_WARNING_EVERY_MS = 3_600_000;

export interface Member {
  nodeId: string;
  service: string;
  /** Z85, as libzmq takes it. */
  publicKey: string;
  fingerprint: string;
  /** Undefined in authorized-keys mode: a listed key may do anything. */
  permissions: Permissions | undefined;
  serial: number | undefined;
  notAfterMs: number | undefined;
  macKey: Buffer;
}

/** What a peer's Hello says about its credentials. */
export interface HelloCredentials {
  nodeId: string;
  service: string;
  /** 64 hex characters (Hello.public_key). */
  publicKey: string;
  /** SignedCertificate bytes; empty in authorized-keys mode. */
  certificate: Uint8Array;
}

const REJECTION: Record<SecurityProblem, HandshakeRejection> = {
  key: 'wrong-key', certificate: 'bad-certificate', expired: 'expired', revoked: 'revoked',
  authority: 'unknown-authority', mesh: 'other-mesh', config: 'bad-certificate',
};

export interface PolicyParts {
  mesh: string;
  service: string;
  clock: Pick<Clock, 'now'>;
  audit: Audit;
  /** A member lost its right to be one (expired, revoked): its links go down. */
  evict(nodeId: string, reason: string): void;
  /** Something to tell an operator that is not an audit event. */
  warn(err: unknown, message: string): void;
}

export class TrustPolicy {
  readonly nodeId: string;
  /** Our key as Hello.public_key carries it. */
  readonly publicKeyHex: string;
  private readonly members = new Map<string, Member>();
  private readonly macKeys = new Map<string, Buffer>();
  private readonly publishDecisions = new WeakMap<Member, Map<string, boolean>>();
  /** Raw keys (hex) that passed ZAP on the ROUTER; insertion order is age. */
  private readonly zapSeen = new Set<string>();
  private readonly ownKey: Buffer;
  private readonly listed = new Map<string, string>(); // authorized-keys mode: z85 -> service
  private revoked = new Set<number>();
  private revokedKeys = new Set<string>();
  private revocationsMtimeMs = -1;
  private lastExpiryWarningMs = -Infinity;
  private readonly own: { serial: number | undefined; notAfterMs: number | undefined };

  constructor(readonly settings: SecuritySettings, private readonly p: PolicyParts) {
    this.ownKey = keyBytes(settings.keys.publicKey);
    this.publicKeyHex = this.ownKey.toString('hex');
    this.nodeId = nodeIdFor(p.service, settings.keys.publicKey);
    for (const k of settings.authorizedKeys) this.listed.set(k.publicKey, k.service);
    if (settings.revocations !== undefined) this.revoked = verifyRevocationList(settings.revocations, settings.authorities);
    this.reloadRevocations();
    this.own = { serial: undefined, notAfterMs: undefined };
    if (settings.mode === 'certificates') {
      // Our own certificate must be one our peers will accept: fail at start, not at
      // every handshake.
      const info = verifyCertificate(settings.certificate!, { authorityKeys: settings.authorities, mesh: p.mesh, nowMs: p.clock.now(), revoked: this.revoked });
      if (info.nodeKey !== settings.keys.publicKey) throw new SecurityError('certificate', 'the certificate is for another key than this node\'s');
      if (info.service !== p.service) throw new SecurityError('certificate', `the certificate is for service "${info.service}", not "${p.service}"`);
      this.own.serial = info.serial;
      this.own.notAfterMs = info.notAfterMs;
    }
  }

  /** Our certificate, for Hello.certificate (empty in authorized-keys mode). */
  get certificate(): Uint8Array {
    return this.settings.certificate ?? new Uint8Array(0);
  }

  /** The MAC key shared with the holder of `publicKey` (Z85). */
  macKeyFor(publicKey: string): Buffer {
    let k = this.macKeys.get(publicKey);
    if (k === undefined) {
      k = macKey(this.settings.keys.secretKey, this.settings.keys.publicKey, publicKey);
      this.macKeys.set(publicKey, k);
      // Keys come from records and hellos too, which anyone can make up: keep the
      // cache bounded (a member holds its own key; links hold theirs).
      if (this.macKeys.size > MAC_KEYS_CACHED) this.macKeys.delete(this.macKeys.keys().next().value!);
    }
    return k;
  }

  /** Checks a peer's credentials; on success it is a member. `expectedKey` (Z85) is the
   *  key the connection already proved (a DEALER's CURVE server key). Throws
   *  SecurityError after recording why in the audit trail. */
  admit(c: HelloCredentials, o: { expectedKey?: string; address?: string } = {}): Member {
    const peer: AuditPeer = { nodeId: c.nodeId, fingerprint: 'unknown', ...(o.address === undefined ? {} : { address: o.address }) };
    const reject = (reason: HandshakeRejection, detail: string): never => {
      this.p.audit.record({ event: 'handshake.rejected', peer, reason, detail });
      throw new SecurityError(reason === 'expired' ? 'expired' : reason === 'revoked' ? 'revoked' : 'certificate', `${c.nodeId}: ${detail}`);
    };
    if (!/^[0-9a-f]{64}$/.test(c.publicKey)) return reject('wrong-key', 'Hello.public_key is not 64 lowercase hex characters');
    const publicKey = keyText(Buffer.from(c.publicKey, 'hex'));
    peer.fingerprint = keyFingerprint(publicKey);
    if (o.expectedKey !== undefined && o.expectedKey !== publicKey) return reject('wrong-key', 'the Hello names another key than the one the connection proved');
    if (c.nodeId !== nodeIdFor(c.service, publicKey)) return reject('wrong-key', `node id must be "${nodeIdFor(c.service, publicKey)}" for this key and service`);
    if (this.revokedKeys.has(publicKey)) return reject('revoked', 'its certificate was revoked');
    let member: Member;
    if (this.settings.mode === 'keys') {
      const service = this.listed.get(publicKey);
      if (service === undefined) return reject('unknown-key', 'the key is not in the authorized keys');
      if (service !== c.service) return reject('bad-certificate', `the key is authorized for "${service}", not "${c.service}"`);
      member = { nodeId: c.nodeId, service, publicKey, fingerprint: peer.fingerprint, permissions: undefined, serial: undefined, notAfterMs: undefined, macKey: this.macKeyFor(publicKey) };
    } else {
      let info;
      try {
        info = verifyCertificate(c.certificate, { authorityKeys: this.settings.authorities, mesh: this.p.mesh, nowMs: this.p.clock.now(), revoked: this.revoked });
      } catch (err) {
        const problem = err instanceof SecurityError ? err.problem : 'certificate';
        return reject(REJECTION[problem], err instanceof Error ? err.message : String(err));
      }
      if (info.nodeKey !== publicKey) return reject('wrong-key', 'the certificate is for another key');
      if (info.service !== c.service) return reject('bad-certificate', `the certificate is for "${info.service}", not "${c.service}"`);
      member = {
        nodeId: c.nodeId, service: c.service, publicKey, fingerprint: peer.fingerprint, permissions: info.permissions,
        serial: info.serial, notAfterMs: info.notAfterMs, macKey: this.macKeyFor(publicKey),
      };
    }
    this.members.set(member.nodeId, member);
    return member;
  }

  member(nodeId: string): Member | undefined {
    return this.members.get(nodeId);
  }

  forget(nodeId: string): void {
    this.members.delete(nodeId);
  }

  /** The CURVE handshake of a client with key `clientKey` (raw) on socket `domain`. */
  zapAllows(domain: string, clientKey: Buffer, address: string): { ok: true } | { ok: false; reason: string } {
    const publicKey = keyText(clientKey);
    const deny = (reason: HandshakeRejection, detail: string): { ok: false; reason: string } => {
      this.p.audit.record({ event: 'handshake.rejected', peer: { fingerprint: keyFingerprint(publicKey), address }, reason, detail });
      return { ok: false, reason: detail };
    };
    if (this.revokedKeys.has(publicKey)) return deny('revoked', 'certificate revoked');
    if (domain === ZAP_DOMAIN_PUB) {
      // Events only go to members: a subscriber cannot present a certificate on SUB.
      for (const m of this.members.values()) if (m.publicKey === publicKey) return { ok: true };
      return deny('unknown-key', 'not a member: say HELLO on the ROUTER first');
    }
    if (this.settings.mode === 'keys' && !this.listed.has(publicKey)) return deny('unknown-key', 'key not authorized');
    this.rememberZap(clientKey.toString('hex'));
    return { ok: true };
  }

  /** The BIND frame our DEALER opens each connection to the holder of `serverKey` with. */
  bindFrameFor(serverKey: string): Buffer {
    return bindFrame(this.macKeyFor(serverKey), this.ownKey, keyBytes(serverKey));
  }

  /** The key (Z85) a connection's BIND frame proves, or undefined. Only keys that just
   *  passed ZAP on the ROUTER are considered, so a flood of frames naming made-up keys
   *  costs no key agreement. */
  bindingKey(frame: Uint8Array): string | undefined {
    const raw = bindFrameKey(frame);
    if (raw === undefined || !this.zapSeen.has(raw.toString('hex'))) return undefined;
    const publicKey = keyText(raw);
    if (this.revokedKeys.has(publicKey)) return undefined;
    let key: Buffer;
    try {
      key = this.macKeyFor(publicKey);
    } catch {
      return undefined;
    }
    return verifyBindFrame(key, frame, this.ownKey) ? publicKey : undefined;
  }

  private rememberZap(hex: string): void {
    this.zapSeen.delete(hex);
    this.zapSeen.add(hex);
    if (this.zapSeen.size > ZAP_SEEN_MAX) this.zapSeen.delete(this.zapSeen.values().next().value!);
  }

  /** The header with our MAC for the holder of `macKey` appended (section 17). */
  seal(macKey: Buffer, header: Uint8Array, body: Uint8Array): Buffer {
    return sealHeader(macKey, header, body);
  }

  /** True when `header` ends with a MAC by `member` over it and `body`. */
  open(member: Member, header: Uint8Array, body: Uint8Array): boolean {
    return openHeader(member.macKey, header, body);
  }

  mayCall(m: Member, service: string, method: string): boolean {
    return m.permissions === undefined || mayCall(m.permissions, service, method);
  }

  /** Checked on every message a subscriber receives (once for all the events it
   *  packs), so decisions are remembered per member and topic (a member admitted again
   *  is a new object, with a new cache). */
  mayPublish(nodeId: string, topic: string): boolean {
    const m = this.members.get(nodeId);
    if (m === undefined) return false;
    // Node summaries are every member's, whatever its certificate grants (section 18).
    if (m.permissions === undefined || topic === SUMMARY_TOPIC) return true;
    let decided = this.publishDecisions.get(m);
    if (decided === undefined) {
      decided = new Map();
      this.publishDecisions.set(m, decided);
    }
    let ok = decided.get(topic);
    if (ok === undefined) {
      ok = mayPublish(m.permissions, topic);
      if (decided.size >= PUBLISH_DECISIONS_CACHED) decided.clear();
      decided.set(topic, ok);
    }
    return ok;
  }

  maySubscribe(m: Member, prefix: string): boolean {
    return m.permissions === undefined || maySubscribe(m.permissions, prefix);
  }

  /** Expired and revoked members go; our own certificate warns before it runs out. */
  tick(): void {
    const now = this.p.clock.now();
    try {
      this.reloadRevocations();
    } catch (err) {
      this.p.warn(err, 'the revocation list does not verify; keeping the one we had');
    }
    for (const m of [...this.members.values()]) {
      if (m.notAfterMs !== undefined && now >= m.notAfterMs) this.evict(m, 'expired', 'its certificate expired');
      else if (m.serial !== undefined && this.revoked.has(m.serial)) this.evict(m, 'revoked', 'its certificate was revoked');
    }
    const left = this.own.notAfterMs === undefined ? Infinity : this.own.notAfterMs - now;
    if (left < EXPIRY_WARNING_MS && now - this.lastExpiryWarningMs >= EXPIRY_WARNING_EVERY_MS) {
      this.lastExpiryWarningMs = now;
      this.p.audit.record({
        event: 'certificate.expiring', peer: { nodeId: this.nodeId, fingerprint: keyFingerprint(this.settings.keys.publicKey) },
        serial: this.own.serial ?? 0, notAfterMs: this.own.notAfterMs!, remainingMs: Math.max(0, left),
      });
    }
  }

  private evict(m: Member, reason: 'expired' | 'revoked', detail: string): void {
    this.members.delete(m.nodeId);
    if (reason === 'revoked') this.revokedKeys.add(m.publicKey);
    this.p.audit.record({ event: 'handshake.rejected', peer: { nodeId: m.nodeId, fingerprint: m.fingerprint }, reason, detail });
    this.p.evict(m.nodeId, detail);
  }

  /** Re-reads the revocation list file when it changed (operators replace it). A file
   *  that does not verify keeps the list we had, and says so. */
  private reloadRevocations(): void {
    const file = this.settings.revocationsFile;
    if (file === undefined) return;
    let mtimeMs: number;
    try {
      mtimeMs = statSync(file).mtimeMs;
    } catch {
      return; // no list yet: nothing revoked beyond what we knew
    }
    if (mtimeMs === this.revocationsMtimeMs) return;
    this.revocationsMtimeMs = mtimeMs;
    const fresh = verifyRevocationList(readFileSync(file), this.settings.authorities);
    for (const s of this.revoked) fresh.add(s); // a revocation is never taken back
    this.revoked = fresh;
  }
}

/** ZAP domains of a secure node's two server sockets. */
export const ZAP_DOMAIN_ROUTER = 'zmesh-router';
export const ZAP_DOMAIN_PUB = 'zmesh-pub';
