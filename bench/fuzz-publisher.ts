/**
 * The fuzzer as a joined publisher: a member written from proto/README.md alone (a
 * CURVE ROUTER and XPUB with its own certified key) that introduces itself to the
 * target, answers its HELLO, PINGs and sync subscriptions like a peer, and so gets
 * the target's SUB connected to its XPUB. Then it sends mutated events there: classic
 * [topic, header, body, ...] messages and packed frames (section 2), with valid and
 * broken lengths, topics that differ from the subject, kinds a SUB never expects.
 */
import { randomBytes } from 'node:crypto';
import * as zmq from 'zeromq';
import { keyBytes, nodeIdFor, sealHeader, type NodeKeys } from '../transport/index.js';
import { envelope, pack, pb } from '../test/helpers/raw-peer.js';

export interface FuzzPublisher {
  /** Resolves once the target's SUB has synced with us: it reads what we publish. */
  joined: Promise<void>;
  /** Sends one mutated message on the XPUB; returns its frame count. */
  storm(mutate: (b: Buffer) => Buffer): Promise<number>;
  close(): void;
}

export async function fuzzPublisher(o: {
  creds: { keys: NodeKeys; certificate: Uint8Array };
  target: { endpoint: string; serverKey: string; macKey: Buffer };
  topic: string;
}): Promise<FuzzPublisher> {
  const { keys, certificate } = o.creds;
  const nodeId = nodeIdFor('fuzzpub', keys.publicKey);
  const curve = { curveServer: true, curvePublicKey: keys.publicKey, curveSecretKey: keys.secretKey };
  const router = new zmq.Router({ linger: 0, ...curve });
  const xpub = new zmq.XPublisher({ linger: 0, sendHighWaterMark: 100_000, ...curve });
  await router.bind('tcp://127.0.0.1:0');
  await xpub.bind('tcp://127.0.0.1:0');
  const port = (s: zmq.Socket & { lastEndpoint: string | null }): number => Number(/:(\d+)$/.exec(s.lastEndpoint!)![1]);
  const hello = pb.Hello.encode({
    nodeId, service: 'fuzzpub', mesh: 'default', routerPort: port(router), pubPort: port(xpub), protocolVersion: 1,
    routerEndpoints: [`tcp://127.0.0.1:${port(router)}`], publicKey: keyBytes(keys.publicKey).toString('hex'), certificate,
  }).finish();
  const answer = (kind: number, correlationId: Uint8Array, payload: Uint8Array = new Uint8Array(0)): Buffer[] =>
    envelope({ kind, senderNode: nodeId, senderService: 'fuzzpub', correlationId, payload });

  // Our ROUTER: the target's DEALER says HELLO and PINGs; one-frame messages are its
  // BIND frame and connection notices (not ours to check: we are the fuzzer).
  void (async () => {
    for await (const [identity, ...frames] of router) {
      if (frames.length < 2) continue;
      const env = pb.Envelope.decode(frames[0]!);
      if (env.kind === pb.Kind.HELLO) await router.send([identity!, ...answer(pb.Kind.WELCOME, env.id, hello)]);
      else if (env.kind === pb.Kind.PING) await router.send([identity!, ...answer(pb.Kind.PONG, env.id, frames[1])]);
    }
  })().catch(() => undefined);

  let joinedResolve!: () => void;
  const joined = new Promise<void>((r) => { joinedResolve = r; });
  // Our XPUB: answer every sync subscription, as section 6 says.
  const syncPrefix = `$sync/${nodeId}/`;
  void (async () => {
    for await (const [msg] of xpub) {
      if (msg![0] !== 1) continue;
      const topic = msg!.subarray(1).toString();
      if (!topic.startsWith(syncPrefix)) continue;
      const mark = pb.SyncMark.encode({ token: topic.slice(syncPrefix.length) }).finish();
      await xpub.send([topic, ...envelope({ kind: pb.Kind.SYNC, senderNode: nodeId, senderService: 'fuzzpub', subject: topic, payload: mark })]);
      joinedResolve();
    }
  })().catch(() => undefined);

  // Introduce ourselves at the target's ROUTER: its table then links back to us.
  const intro = new zmq.Dealer({ linger: 0, curveServerKey: o.target.serverKey, curvePublicKey: keys.publicKey, curveSecretKey: keys.secretKey });
  intro.connect(o.target.endpoint);
  void (async () => { for await (const _ of intro) { /* WELCOME */ } })().catch(() => undefined);
  const [h, b] = envelope({ kind: pb.Kind.HELLO, senderNode: nodeId, senderService: 'fuzzpub', payload: hello });
  await intro.send([sealHeader(o.target.macKey, h!, b!), b!]);

  let seq = 0;
  const event = (subject: string, mutate: (b: Buffer) => Buffer): Buffer[] => {
    const [header, body] = envelope({ kind: Math.random() < 0.9 ? pb.Kind.EVENT : pb.Kind.SYNC, senderNode: nodeId, senderService: 'fuzzpub', subject, seq: ++seq, payload: randomBytes(Math.floor(Math.random() * 200)) });
    return [Math.random() < 0.5 ? mutate(header!) : header!, Math.random() < 0.2 ? mutate(body!) : body!];
  };
  return {
    joined,
    async storm(mutate) {
      const topic = Math.random() < 0.9 ? `${o.topic}${Math.floor(Math.random() * 10)}` : `${o.topic}x`;
      const subject = Math.random() < 0.9 ? topic : `${o.topic}other`;
      const pairs = Array.from({ length: 1 + Math.floor(Math.random() * 40) }, () => event(subject, mutate)).flat();
      let frames: Buffer[];
      const r = Math.random();
      if (r < 0.4) frames = [Buffer.from(topic), pack(pairs)];                       // packed, well formed
      else if (r < 0.6) frames = [Buffer.from(topic), mutate(pack(pairs))];           // packed, lengths broken
      else frames = [Buffer.from(topic), ...pairs];                                   // classic
      await xpub.send(frames);
      return frames.length;
    },
    close() {
      intro.close();
      router.close();
      xpub.close();
    },
  };
}
