/**
 * Real credentials for tests: a mesh authority in a temp dir, node keys and
 * certificates issued by it, exactly as `zmesh authority init` / `keygen` /
 * `cert issue` make them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bindFrame, createAuthority, generateNodeKeys, issueCertificate, issueRevocationList, keyBytes, loadAuthority, macKey, nodeIdFor,
  sealHeader, z85Encode, type Authority, type MeshNode, type NodeKeys, type Permissions, type SecurityOptions,
} from '../../transport/index.js';
import { RawDealer, envelope, pb, type Received } from './raw-peer.js';

export interface TestAuthority {
  dir: string;
  authority: Authority;
  /** Credentials for one node of `service`. */
  issue(service: string, o?: IssueOptions): Issued;
  revoke(serials: number[]): Buffer;
  cleanup(): void;
}

export interface IssueOptions {
  permissions?: Partial<Permissions>;
  mesh?: string;
  notBeforeMs?: number;
  notAfterMs?: number;
  keys?: NodeKeys;
  serial?: number;
}

/** `security` goes straight into createNode's options. */
export interface Issued {
  security: SecurityOptions & { keys: NodeKeys; certificate: Uint8Array };
  serial: number;
}

const ALL: Permissions = { send: { allow: ['*'], deny: [] }, publish: { allow: ['*'], deny: [] }, subscribe: { allow: ['*'], deny: [] } };

export function testAuthority(): TestAuthority {
  const root = mkdtempSync(join(tmpdir(), 'zmesh-trust-'));
  const dir = join(root, 'authority');
  createAuthority(dir);
  const authority = loadAuthority(dir);
  let serial = 0;
  return {
    dir,
    authority,
    issue(service, o = {}) {
      const keys = o.keys ?? generateNodeKeys();
      const s = o.serial ?? ++serial;
      const now = Date.now();
      const certificate = issueCertificate(authority, {
        mesh: o.mesh ?? 'default', service, nodeKey: keys.publicKey, serial: s,
        notBeforeMs: o.notBeforeMs ?? now - 60_000, notAfterMs: o.notAfterMs ?? now + 3_600_000,
        permissions: { ...ALL, ...o.permissions },
      });
      return { security: { keys, certificate, authorities: [authority.publicKey] }, serial: s };
    },
    revoke: (serials) => issueRevocationList(authority, serials),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/**
 * A member that speaks the wire protocol by hand (raw DEALER + the spec's MAC or BIND
 * frame), to send what a zmesh node never would: forged senders, someone else's
 * stream ids, methods its certificate does not allow.
 */
export class RawMember {
  readonly dealer: RawDealer;
  readonly nodeId: string;
  private readonly key: Buffer;
  private readonly serverKey: Buffer;

  /** `routingId`: the DEALER's own routing id (libzmq picks one otherwise). */
  constructor(readonly service: string, readonly security: { keys: NodeKeys; certificate?: Uint8Array }, target: MeshNode, o: { routingId?: string } = {}) {
    const serverKey = z85Encode(Buffer.from(target.publicKey!, 'hex'));
    this.dealer = new RawDealer(target.endpoints.router, {
      curveServerKey: serverKey, curvePublicKey: security.keys.publicKey, curveSecretKey: security.keys.secretKey,
      ...(o.routingId === undefined ? {} : { routingId: o.routingId }),
    });
    this.nodeId = nodeIdFor(service, security.keys.publicKey);
    this.key = macKey(security.keys.secretKey, security.keys.publicKey, serverKey);
    this.serverKey = Buffer.from(target.publicKey!, 'hex');
  }

  /** Our BIND frame for this connection (section 17.4): sent as the first message, it
   *  lets every later one go unsealed. */
  bindFrame(): Buffer {
    return bindFrame(this.key, keyBytes(this.security.keys.publicKey), this.serverKey);
  }

  /** Sends `frame` (ours by default) as a one-frame message, the way a peer without
   *  ZMQ_HELLO_MSG binds a connection it just opened. */
  async bind(frame: Buffer = this.bindFrame()): Promise<void> {
    await this.dealer.send([frame]);
  }

  /** HELLO without a MAC: only a bound connection gets WELCOME for it. */
  async helloUnsealed(): Promise<Received> {
    return this.dealer.answerTo(await this.send({ kind: pb.Kind.HELLO, payload: this.helloPayload() }, { unsealed: true }));
  }

  /** One envelope, sealed with our MAC unless `unsealed`. */
  frames(fields: Parameters<typeof envelope>[0], o: { unsealed?: boolean } = {}): Buffer[] {
    const [header, body] = envelope({ senderNode: this.nodeId, senderService: this.service, ...fields });
    return o.unsealed === true ? [header!, body!] : [sealHeader(this.key, header!, body!), body!];
  }

  async send(fields: Parameters<typeof envelope>[0], o: { unsealed?: boolean } = {}): Promise<Buffer> {
    const frames = this.frames(fields, o);
    await this.dealer.send(frames);
    return Buffer.from(pb.Envelope.decode(frames[0]!).id);
  }

  /** HELLO with our credentials; resolves with the answer (WELCOME or ERROR). */
  async hello(routerEndpoints: string[] = []): Promise<Received> {
    return this.dealer.answerTo(await this.send({ kind: pb.Kind.HELLO, payload: this.helloPayload(routerEndpoints) }));
  }

  private helloPayload(routerEndpoints: string[] = []): Uint8Array {
    return pb.Hello.encode({
      nodeId: this.nodeId, service: this.service, mesh: 'default', pubPort: 1, protocolVersion: 1, routerEndpoints,
      publicKey: keyBytes(this.security.keys.publicKey).toString('hex'), certificate: this.security.certificate ?? new Uint8Array(0),
    }).finish();
  }

  async ask(fields: Parameters<typeof envelope>[0], o: { unsealed?: boolean } = {}): Promise<Received> {
    return this.dealer.answerTo(await this.send(fields, o));
  }

  close(): void {
    this.dealer.close();
  }
}
