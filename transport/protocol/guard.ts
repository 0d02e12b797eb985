/**
 * What a secure node's ROUTER lets in. Every envelope is bound to the key that sent it
 * before anything reads it (proto/README.md section 17):
 *
 *   HELLO          its certificate (or listed key) checks out, the node id is the key's,
 *                  and its MAC verifies with that key: the sender is now a member
 *   anything else  its sender_node is a member and the MAC verifies with that member's
 *                  key (else: `senderMismatch`, or FORBIDDEN for a stranger)
 *   REQUEST,       the member's permissions allow service.method ($ methods: the
 *   COMMAND        reliable class checks them itself, on the member it is handed)
 *
 * Why a MAC and not the CURVE connection: zeromq.js tells a ROUTER neither which key
 * a connection authenticated with nor any per-message metadata, and a client chooses
 * its own routing id, so nothing but the message itself can say who sent it.
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

export class Guard {
  constructor(
    private readonly policy: TrustPolicy,
    private readonly audit: Audit,
    private readonly drop: DropFn,
  ) {}

  /** A HELLO: admits its sender or throws SecurityError (audited). */
  hello(env: Envelope, header: Buffer, hello: Hello): Member {
    if (hello.nodeId !== env.senderNode) throw new SecurityError('certificate', 'Hello.node_id differs from sender_node');
    const member = this.policy.admit({
      nodeId: hello.nodeId, service: hello.service, publicKey: hello.publicKey, certificate: hello.certificate ?? new Uint8Array(0),
    });
    if (!this.policy.open(member, header, env.payload)) {
      this.policy.forget(member.nodeId);
      this.audit.record({ event: 'handshake.rejected', peer: { nodeId: member.nodeId, fingerprint: member.fingerprint }, reason: 'bad-mac', detail: 'the HELLO is not sealed by the key it names' });
      throw new SecurityError('key', 'the HELLO is not sealed by the key it names');
    }
    return member;
  }

  /** Who sent `env`, proven by its MAC. */
  sender(env: Envelope, header: Buffer): Verdict {
    const member = this.policy.member(env.senderNode);
    if (member === undefined) {
      // A stranger's key is not known here; a secure node id names its fingerprint,
      // which is what the audit line can say (claimed, not proven).
      const claimed = /-([0-9a-f]{16})$/.exec(env.senderNode)?.[1] ?? 'unknown';
      this.audit.record({ event: 'message.denied', peer: { nodeId: env.senderNode, fingerprint: claimed }, kind: String(env.kind), target: `${env.service}.${env.subject}`, detail: 'not a member: HELLO first' });
      this.drop('forbidden', 'message from a node that is not a member', env.senderNode);
      return { ok: false, reason: 'forbidden', error: new ForbiddenError(`${env.senderNode} is not a member of this mesh: send HELLO with valid credentials first`) };
    }
    if (env.senderService !== member.service || !this.policy.open(member, header, env.payload)) {
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
