/**
 * One system as the reliable end-to-end scenario (bench/e2e.ts) sees it: a sender in
 * the bench process and a receiver in a child process (bench/servers/e2e-receiver.ts),
 * as everywhere else in the bench.
 *
 *   zmesh:    sender node --send()--> receiver node: handleReliable INSERTs, commits, ACKs
 *   brokers:  publisher --confirmed publish--> broker --prefetch W--> consumer: handler, ack
 *
 * A message is done end to end once the receiver's handler ran, the system accepted
 * the receiver's acknowledgement, and the sender had its own confirmation. Each system
 * says below how it proves that; none of them is taken on trust: the bench also counts
 * what the handler applied, and what the system still holds after the receiver left.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Durability } from '../../transport/index.js';

export interface E2eParams {
  /** Unique per row: queue, stream and subject names derive from it. */
  id: string;
  payloadBytes: number;
  /** Messages in flight: unresolved sends at the sender, and the delivery window
   *  (zmesh reliable.window, RabbitMQ prefetch, JetStream max_ack_pending). */
  window: number;
  /** zmesh: the receiver node's endpoint, for the sender. */
  endpoint?: string;
}

export interface E2eSender {
  /** Sends one message. Resolves when the system took it over: zmesh on the sender's
   *  disk (the outbox), brokers on the publisher confirm (the broker has it). */
  send(payload: Buffer): Promise<void>;
  /** zmesh: resolves at the moment (performance.now() ms) the receiver's ACKs for
   *  `total` commands since the sender started have reached it (outbox:acked; each
   *  one applied and committed there; the outbox drops the row just after). Undefined for
   *  brokers, whose consumer reports instead (the receiver's `settled`). */
  ackedAt?(total: number): Promise<number>;
  /** zmesh: commands acknowledged so far. */
  acked?(): number;
  /** Once the receiver is closed: messages the system still holds. zmesh: outbox rows
   *  pending; RabbitMQ: ready messages in the queue (a closed channel's unacked ones
   *  go back to it); JetStream: messages in the work-queue stream (an accepted ack
   *  removes one). Anything but 0 fails the row. */
  leftover(): Promise<number>;
  close(): Promise<void>;
}

/** The application's handler, run once per message before the message is
 *  acknowledged: returns true for the last message of the phase. */
export type E2eHandler = (payload: Uint8Array) => boolean;

export interface E2eReceiver {
  endpoint?: string;
  /** Messages the handler applied with a sequence number in [from, to): zmesh counts
   *  the rows in its own table (committed effects); brokers leave it to the caller,
   *  which counts handler calls. */
  applied?(from: number, to: number): { rows: number; distinct: number };
  close(): Promise<void>;
}

export interface E2eSystem {
  name: string;
  /** Settings worth recording beside the results. */
  settings: string;
  /** Why it cannot run here, or undefined when it can. */
  unavailable(): Promise<string | undefined>;
  version(): Promise<string>;
  /** The broker's own process, for counting its fsyncs; undefined for zmesh. */
  brokerPid?(): number | undefined;
  durability?: Durability;
  sender(p: E2eParams): Promise<E2eSender>;
  /** `handle` runs for every message; once it returned true, the receiver calls
   *  `settled` when the system has accepted every acknowledgement up to that message. */
  receiver(p: E2eParams, handle: E2eHandler, settled: () => void): Promise<E2eReceiver>;
}

/** Every message starts with its sequence number (8 bytes, big-endian), so receivers
 *  can count distinct messages and nothing is counted twice. */
export const SEQ_BYTES = 8;
export const readSeq = (b: Uint8Array): number => Number(Buffer.from(b.buffer, b.byteOffset, SEQ_BYTES).readBigUInt64BE(0));
export function message(template: Buffer, seq: number): Buffer {
  const m = Buffer.from(template);
  m.writeBigUInt64BE(BigInt(seq), 0);
  return m;
}

/** The pid bench/brokers.sh recorded for a broker it started (RabbitMQ: the Erlang VM). */
export function brokerPidFile(name: 'rabbitmq' | 'nats'): number | undefined {
  try {
    const pid = Number(readFileSync(join(process.env['ZMESH_BROKERS_DIR'] ?? '/tmp/zmesh-brokers', `${name}.pid`), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
