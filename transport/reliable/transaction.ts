/**
 * The Transaction a reliable handler, a durable handler or a transact() block writes
 * in: the service's own database, plus reliable sends and publishes that commit with
 * it. What they queue takes effect only once the surrounding SQLite transaction
 * committed: `committed()` then starts delivery and publishes live.
 */
import { InvalidArgumentError, MessageTooLargeError } from '../errors.js';
import { commandArgs, eventArgs, type CommandDef, type EventDef } from '../defs.js';
import { validateTopic } from '../pubsub/topics.js';
import type { Db } from '../store/open.js';
import type { Transaction } from '../types.js';
import type { LoggedEvent } from './event-log.js';
import type { NewMessage, OutboxRow } from './outbox.js';

export interface TransactionParts {
  db: Db;
  maxPayloadBytes: number;
  newId(): Buffer;
  /** Writes an outbox row inside the open transaction. */
  insertCommand(m: NewMessage): OutboxRow;
  /** Writes an event-log row inside the open transaction. */
  insertEvent(topic: string, id: Buffer, payload: Uint8Array, headers: Record<string, string> | undefined): LoggedEvent;
  /** After commit: these rows were added to the outbox. */
  sent(rows: OutboxRow[]): void;
  /** After rollback: these outbox rows written in it are gone again. */
  unsent(rows: OutboxRow[]): void;
  /** After commit: these events are on disk and may go out live. */
  logged(events: LoggedEvent[]): void;
}

export function checkPayloadSize(payload: Uint8Array, maxPayloadBytes: number): void {
  if (!(payload instanceof Uint8Array)) throw new InvalidArgumentError('payload must be a Uint8Array');
  if (payload.byteLength > maxPayloadBytes) {
    throw new MessageTooLargeError(`payload of ${payload.byteLength} bytes exceeds maxPayloadBytes ${maxPayloadBytes}`);
  }
}

/** A reliable command as the outbox stores it; throws INVALID_ARGUMENT or
 *  MESSAGE_TOO_LARGE before anything is written. */
export function commandMessage(p: Pick<TransactionParts, 'newId' | 'maxPayloadBytes'>, a: string | CommandDef<unknown>, b: unknown, c?: unknown, d?: unknown): NewMessage {
  const { service, method, payload, headers } = commandArgs(a, b, c, d);
  if (typeof service !== 'string' || service === '' || typeof method !== 'string' || method === '') {
    throw new InvalidArgumentError('reliable send needs a service and a method');
  }
  checkPayloadSize(payload, p.maxPayloadBytes);
  return { id: p.newId(), service, method, payload, headers };
}

/** A reliable event's topic, payload and headers, checked. */
export function eventMessage(p: Pick<TransactionParts, 'maxPayloadBytes'>, a: string | EventDef<unknown>, b: unknown, c?: unknown):
  { topic: string; payload: Uint8Array; headers: Record<string, string> | undefined } {
  const e = eventArgs(a, b, c);
  validateTopic(e.topic);
  checkPayloadSize(e.payload, p.maxPayloadBytes);
  return e;
}

/** The transaction object, and what its owner calls once the SQLite transaction
 *  committed, or rolled back. */
export interface OpenTransaction {
  tx: Transaction;
  committed(): void;
  rolledBack(): void;
}

export function openTransaction(p: TransactionParts): OpenTransaction {
  const sent: OutboxRow[] = [];
  const logged: LoggedEvent[] = [];
  const tx: Transaction = {
    db: p.db,
    send: (a: string | CommandDef<unknown>, b: unknown, c?: unknown, d?: unknown): void => {
      sent.push(p.insertCommand(commandMessage(p, a, b, c, d)));
    },
    publish: (a: string | EventDef<unknown>, b: unknown, c?: unknown): void => {
      const e = eventMessage(p, a, b, c);
      logged.push(p.insertEvent(e.topic, p.newId(), e.payload, e.headers));
    },
  } as Transaction;
  return {
    tx,
    committed: () => {
      if (sent.length > 0) p.sent(sent);
      if (logged.length > 0) p.logged(logged);
    },
    rolledBack: () => {
      if (sent.length > 0) p.unsent(sent);
    },
  };
}
