/**
 * What a secure node's ROUTER lets in. Every envelope is bound to the key that sent it
 * before anything reads it (proto/README.md section 17):
 *
 *   [id, empty]    a connection with routing id `id` came up or went away: whatever
 *                  it was bound to is forgotten
 *   [id, BIND]     the connection proves its key once (mac.ts): bound
 *   HELLO          its certificate (or listed key) checks out, the node id is the key's,
 *                  and the connection is bound to that key or the MAC verifies with
 *                  it: the sender is now a member
 *   anything else  its sender_node is a member, and the connection is bound to that
 *                  member's key or the MAC verifies with it (else: `senderMismatch`,
 *                  or FORBIDDEN for a stranger)
 *   REQUEST,       the member's permissions allow service.method ($ methods: the
 *   COMMAND        reliable class checks them itself, on the member it is handed)
 *
 * Why this holds: zeromq.js tells a ROUTER neither which key a connection
 * authenticated with nor any per-message metadata, and a client chooses its own
 * routing id (ROUTER_HANDOVER even lets it take one over). But libzmq queues the
 * connect notification of a connection ahead of anything it carries, and the
 * disconnect notification after, both under the routing id the connection holds. So a
 * binding made by a connection's BIND frame covers that connection's messages and no
 * other's: a connection that takes the id over is announced (and unbinds it) before
 * its first message, and messages still queued from the connection it replaced arrive
 * under a new, unbound id. A peer that cannot bind seals every message instead.
 */
import type { Envelope } from '../codec/envelope.js';
import type { Hello } from '../codec/control.js';
import { ForbiddenError, SecurityError } from '../errors.js';
import type { Audit } from '../security/audit.js';
import type { Member, TrustPolicy } from '../security/policy.js';
import type { DropFn } from './drops.js';

export type Verdict =
  | { ok: true; member: Member }
  | { ok: false; error: ForbiddenError; reason: 'forbidden' | 'senderMismatch' };

/** Bound connections remembered at most. Disconnects unbind, so this only bounds what
 *  lost notifications could leave behind; the oldest binding goes first. */
const MAX_BINDINGS = 65_536;

export class Guard {
  /** Routing id (hex) -> the key (Z85) its connection proved with a BIND frame. */
  private readonly bindings = new Map<string, string>();

  constructor(
    private readonly policy: TrustPolicy,
    private readonly audit: Audit,
    private readonly drop: DropFn,
  ) {}

  /** A one-frame ROUTER message: a connect or disconnect notification (empty), or a
   *  connection's BIND frame. */
  connection(routingId: string, frame: Buffer): void {
    this.bindings.delete(routingId);
    if (frame.length === 0) return;
    const key = this.policy.bindingKey(frame);
    if (key === undefined) {
      this.audit.record({ event: 'handshake.rejected', peer: { fingerprint: 'unknown' }, reason: 'bad-mac', detail: `connection ${routingId}: a BIND frame that does not verify for a key that connected` });
      this.drop('forbidden', 'BIND frame does not verify', routingId);
      return;
    }
    this.bindings.set(routingId, key);
    if (this.bindings.size > MAX_BINDINGS) this.bindings.delete(this.bindings.keys().next().value!);
  }

  /** Connections currently bound (for tests and stats). */
  get bound(): number {
    return this.bindings.size;
  }

  /** A HELLO: admits its sender or throws SecurityError (audited). */
  hello(env: Envelope, header: Buffer, hello: Hello, routingId: string): Member {
    if (hello.nodeId !== env.senderNode) throw new SecurityError('certificate', 'Hello.node_id differs from sender_node');
    const boundKey = this.bindings.get(routingId);
    const member = this.policy.admit({
      nodeId: hello.nodeId, service: hello.service, publicKey: hello.publicKey, certificate: hello.certificate ?? new Uint8Array(0),
    }, boundKey === undefined ? {} : { expectedKey: boundKey });
    if (boundKey === undefined && !this.policy.open(member, header, env.payload)) {
      this.policy.forget(member.nodeId);
      this.audit.record({ event: 'handshake.rejected', peer: { nodeId: member.nodeId, fingerprint: member.fingerprint }, reason: 'bad-mac', detail: 'the HELLO is not sealed by the key it names' });
      throw new SecurityError('key', 'the HELLO is not sealed by the key it names');
    }
    return member;
  }

  /** Who sent `env`, proven by its connection's binding or by its MAC. */
  sender(env: Envelope, header: Buffer, routingId: string): Verdict {
    const member = this.policy.member(env.senderNode);
    if (member === undefined) {
      // A stranger's key is not known here; a secure node id names its fingerprint,
      // which is what the audit line can say (claimed, not proven).
      const claimed = /-([0-9a-f]{16})$/.exec(env.senderNode)?.[1] ?? 'unknown';
      this.audit.record({ event: 'message.denied', peer: { nodeId: env.senderNode, fingerprint: claimed }, kind: String(env.kind), target: `${env.service}.${env.subject}`, detail: 'not a member: HELLO first' });
      this.drop('forbidden', 'message from a node that is not a member', env.senderNode);
      return { ok: false, reason: 'forbidden', error: new ForbiddenError(`${env.senderNode} is not a member of this mesh: send HELLO with valid credentials first`) };
    }
    const boundKey = this.bindings.get(routingId);
    const proven = boundKey !== undefined ? boundKey === member.publicKey : this.policy.open(member, header, env.payload);
    if (env.senderService !== member.service || !proven) {
      this.audit.record({ event: 'sender.mismatch', peer: { nodeId: member.nodeId, fingerprint: member.fingerprint }, claimed: env.senderNode, detail: 'the MAC or sender_service does not match the member it names' });
      this.drop('senderMismatch', 'MAC does not verify for the sender it names', env.senderNode);
      return { ok: false, reason: 'senderMismatch', error: new ForbiddenError('the message is not sealed by the node it names') };
    }
    return { ok: true, member };
  }

  /** May `member` call `service.method`? `$` methods are checked by their owners. */
  mayCall(member: Member, env: Envelope): boolean {
    if (env.subject.startsWith('$') || this.policy.mayCall(member, env.service, env.subject)) return true;
    this.audit.record({ event: 'message.denied', peer: { nodeId: member.nodeId, fingerprint: member.fingerprint }, kind: String(env.kind), target: `${env.service}.${env.subject}`, detail: 'not in its certificate' });
    this.drop('forbidden', `${env.service}.${env.subject} not allowed`, member.nodeId);
    return false;
  }
}
