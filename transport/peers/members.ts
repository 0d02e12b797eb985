/**
 * Peer exchange: how a node learns the mesh's members from any one peer, so that a
 * list of seeds is enough (proto/README.md section 5.1).
 *
 *   cart --HELLO--> product <--HELLO-- order      both know product only
 *   cart --$members--> product: [order @ tcp://...]   (asked when product is up,
 *   cart --HELLO--> order                              1 s later, then every 5 s)
 *   order learns cart from that hello and dials back  (section 5)
 *
 * Answering: `$members` lists the peers that are up here, with their advertised
 * endpoints (then the one we reached them at) and, in a secure mesh, their keys.
 * Asking: only peers whose Hello said `lists_members`, so older nodes never see the
 * method; at most one question per peer in flight. What comes back is only proposed:
 * the peer table applies its bounds (peer-table.ts learn()), and a listed node
 * becomes a peer through the handshake, in a secure mesh only if it proves its key.
 */
import type { Logger } from 'pino';
import { MAX_MEMBERS_LISTED, MAX_MEMBER_ENDPOINTS, MEMBERS_REFRESH_MS, MEMBERS_SECOND_ASK_MS } from '../bounds.js';
import { decodeMembers, encodeMembers, type Member } from '../codec/control.js';
import { RateLimitedLog } from '../log.js';
import { isEndpoint } from '../names.js';
import type { BoundsStats, Clock } from '../types.js';
import type { PeerTable } from './peer-table.js';

export const MEMBERS_METHOD = '$members';

const EMPTY = new Uint8Array(0);

export interface MembersParts {
  table: Pick<PeerTable, 'upLinks' | 'learn' | 'byNode'>;
  /** A REQUEST to one live peer (protocol/'s RequestClient.requestNode). */
  requestNode(nodeId: string, method: string, payload: Uint8Array): Promise<Uint8Array>;
  bounds: BoundsStats;
  log: Logger;
  clock: Pick<Clock, 'monotonic'>;
}

export class MemberExchange {
  /** Node id -> monotonic ms at which to ask it next. */
  private readonly nextAt = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  private readonly limited: RateLimitedLog;
  private closed = false;

  constructor(private readonly p: MembersParts) {
    this.limited = new RateLimitedLog(p.log);
  }

  /** The body of our answer to `$members`. */
  answer(): Uint8Array {
    const members: Member[] = [];
    for (const link of this.p.table.upLinks()) {
      if (members.length === MAX_MEMBERS_LISTED) break;
      const hello = link.peer!;
      // A hello's endpoints are the peer's word: only valid ones are passed on, so
      // that junk cannot crowd out the endpoint we know works.
      const routerEndpoints = [...new Set([...hello.routerEndpoints.filter(isEndpoint), link.endpoint])].slice(0, MAX_MEMBER_ENDPOINTS);
      members.push({ nodeId: hello.nodeId, service: hello.service, routerEndpoints, publicKey: hello.publicKey });
    }
    return encodeMembers(members);
  }

  /** A peer came up: ask it at once, and again MEMBERS_SECOND_ASK_MS later. Nodes
   *  that join at the same moment (a boot) reach the seed before it has the others
   *  up: the second question finds them. */
  peerUp(nodeId: string): void {
    const now = this.p.clock.monotonic();
    this.nextAt.delete(nodeId);
    if (this.ask(nodeId)) this.nextAt.set(nodeId, now + MEMBERS_SECOND_ASK_MS);
  }

  peerGone(nodeId: string): void {
    this.nextAt.delete(nodeId);
  }

  /** Asks every up peer whose next question is due; then again MEMBERS_REFRESH_MS on. */
  tick(now: number): void {
    for (const link of this.p.table.upLinks()) {
      const due = this.nextAt.get(link.nodeId);
      if (due !== undefined && now < due) continue;
      if (this.ask(link.nodeId)) this.nextAt.set(link.nodeId, now + MEMBERS_REFRESH_MS);
    }
  }

  close(): void {
    this.closed = true;
  }

  /** Sends one question; false when none was sent (closed, one in flight, or the
   *  peer does not list members). */
  private ask(nodeId: string): boolean {
    if (this.closed || this.inFlight.has(nodeId)) return false;
    if (this.p.table.byNode(nodeId)?.peer?.listsMembers !== true) return false;
    this.inFlight.add(nodeId);
    this.p.requestNode(nodeId, MEMBERS_METHOD, EMPTY).then(
      (body) => this.take(nodeId, body),
      (err: unknown) => this.p.log.debug({ err, peer: nodeId }, '$members not answered'),
    ).finally(() => this.inFlight.delete(nodeId));
    return true;
  }

  private take(informant: string, body: Uint8Array): void {
    if (this.closed) return;
    const answer = decodeMembers(body);
    if (answer === undefined) {
      this.p.bounds.membersIgnored++;
      this.limited.warn(`bad:${informant}`, { peer: informant }, '$members answer is not a Members message');
      return;
    }
    let ignored = answer.ignored;
    for (const m of answer.members) if (!this.p.table.learn(m, informant)) ignored++;
    if (ignored > 0) {
      this.p.bounds.membersIgnored += ignored;
      this.limited.warn(`ignored:${informant}`, { peer: informant, ignored, listed: answer.members.length }, 'members listed by a peer ignored (malformed or past its bounds)');
    }
  }
}
