/**
 * Services declared as data: reliable commands and events defined once, then sent,
 * served, published and consumed as values. Two real nodes on loopback with real
 * SQLite stores.
 *
 *   sender (store) --tx.send(Credit, v)--> ledger (store): serveReliable(Credit)
 *   ledger --tx.publish(Credited / Balance family)--> sender: subscribeDurable(on(...))
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  ErrorCode, InvalidArgumentError, createNode, defineCommand, defineEvent, defineMethod, defineService, jsonCodec,
  on, openStoreAdmin, serveReliable, subscribeDurable, topicOf, type DurableEvent, type MeshNode, type NodeOptions,
} from '../transport/index.js';

interface Credit { account: string; cents: number }
interface Credited { account: string; cents: number }
interface Balance { cents: number }

const CreditCmd = defineCommand({ service: 'ledger', method: 'Credit', codec: jsonCodec<Credit>() });
const CreditedEvt = defineEvent({ topic: 'ledger.credited', codec: jsonCodec<Credited>() });
const BalanceEvt = defineEvent({ topic: 'ledger.balance.', family: true, codec: jsonCodec<Balance>() });

const dir = mkdtempSync(join(tmpdir(), 'zmesh-typed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nodes: MeshNode[] = [];
afterEach(async () => { await Promise.all(nodes.splice(0).map((n) => n.close())); });

let n = 0;
async function pair(reliable: NodeOptions['reliable'] = {}): Promise<{ sender: MeshNode; ledger: MeshNode; ledgerStore: string; senderStore: string }> {
  const ledgerStore = join(dir, `ledger-${++n}.db`);
  const senderStore = join(dir, `sender-${n}.db`);
  const ledger = createNode({ insecure: true, service: 'ledger', host: '127.0.0.1', discovery: 'static', storePath: ledgerStore });
  nodes.push(ledger);
  await ledger.start();
  const sender = createNode({ insecure: true, service: 'sender', host: '127.0.0.1', peers: [ledger.endpoints.router], storePath: senderStore, reliable });
  nodes.push(sender);
  await sender.start();
  await sender.waitForService('ledger');
  await ledger.waitForService('sender');
  return { sender, ledger, ledgerStore, senderStore };
}

describe('typed definitions', () => {
  it('typed - commands and events travel as values: tx.send, serveReliable, tx.publish with a family, subscribeDurable', async () => {
    const { sender, ledger } = await pair();
    const balances = new Map<string, number>();
    serveReliable(ledger, CreditCmd, (credit, tx) => {
      const cents = (balances.get(credit.account) ?? 0) + credit.cents;
      balances.set(credit.account, cents);
      tx.publish(CreditedEvt, { account: credit.account, cents: credit.cents });
      tx.publish(BalanceEvt, { cents }, { suffix: credit.account });
    });
    const seen: Array<[string, unknown]> = [];
    const sub = await subscribeDurable(sender, 'credits', [
      on(CreditedEvt, (v, e: DurableEvent) => { seen.push([e.topic, v]); }),
      on(BalanceEvt, (v, e) => { seen.push([e.topic, v]); }),
    ]);
    // A transaction's typed send, and the node's own typed send.
    sender.transact((tx) => tx.send(CreditCmd, { account: 'a', cents: 5 }));
    await sender.send(CreditCmd, { account: 'a', cents: 7 });
    await sender.send(CreditCmd, { account: 'b', cents: 1 });
    await vi.waitFor(() => expect(seen).toHaveLength(6), { timeout: 10_000 });
    expect(seen).toEqual([
      ['ledger.credited', { account: 'a', cents: 5 }], ['ledger.balance.a', { cents: 5 }],
      ['ledger.credited', { account: 'a', cents: 7 }], ['ledger.balance.a', { cents: 12 }],
      ['ledger.credited', { account: 'b', cents: 1 }], ['ledger.balance.b', { cents: 1 }],
    ]);
    sub.close();
  });

  it('typed - a command that does not decode is refused with BAD_MESSAGE and dead-lettered after maxAttempts', async () => {
    const { sender, ledger, senderStore } = await pair({ maxAttempts: 2, backoffBaseMs: 5, backoffMaxMs: 20 });
    let applied = 0;
    serveReliable(ledger, CreditCmd, () => { applied++; });
    await sender.send('ledger', 'Credit', Buffer.from('{not json'));
    const admin = openStoreAdmin(senderStore);
    try {
      await vi.waitFor(() => expect(admin.dead()).toHaveLength(1), { timeout: 10_000 });
      expect(admin.dead()[0]!.lastError).toContain(ErrorCode.BAD_MESSAGE);
      expect(admin.dead()[0]!.lastError).toContain('command ledger.Credit does not decode');
    } finally {
      admin.close();
    }
    expect(applied).toBe(0);
  });

  it('typed - definitions refuse what could never work', () => {
    expect(() => topicOf(BalanceEvt, undefined)).toThrow(InvalidArgumentError);
    expect(() => topicOf(CreditedEvt, 'x')).toThrow(InvalidArgumentError);
    expect(topicOf(BalanceEvt, 'acc-1')).toBe('ledger.balance.acc-1');
    expect(() => defineCommand({ service: 'Ledger', method: 'Credit', codec: jsonCodec() })).toThrow(InvalidArgumentError);
    expect(() => defineCommand({ service: 'ledger', method: '$ack', codec: jsonCodec() })).toThrow(/reserved/);
    expect(() => defineEvent({ topic: '$sync/x', codec: jsonCodec() })).toThrow(InvalidArgumentError);
    const Get = defineMethod({ service: 'other', method: 'Get', request: jsonCodec(), response: jsonCodec() });
    expect(() => defineService({ name: 'ledger', requests: [Get] })).toThrow(/not a method of service "ledger"/);
    const svc = defineService({ name: 'ledger', commands: [CreditCmd], emits: [CreditedEvt, BalanceEvt] });
    expect(svc.commands.map((c) => c.method)).toEqual(['Credit']);
    expect(Object.isFrozen(svc)).toBe(true);
  });
});

describe('reserved methods', () => {
  it('reserved - handle() and handleReliable() refuse "$" names; the internal $replay and $ack stay in place', async () => {
    const { sender, ledger } = await pair();
    expect(() => ledger.handle('$ack', () => undefined)).toThrow(/reserved/);
    expect(() => ledger.handle('$replay', () => undefined)).toThrow(InvalidArgumentError);
    expect(() => ledger.handleReliable('$x', () => undefined)).toThrow(/reserved/);
    // $replay still answers with the ledger's own protobuf reply (not the application's).
    serveReliable(ledger, CreditCmd, (c, tx) => { tx.publish(CreditedEvt, c); });
    const got: Credited[] = [];
    await sender.send(CreditCmd, { account: 'z', cents: 3 });
    const sub = await subscribeDurable(sender, 'late', [on(CreditedEvt, (v) => { got.push(v); })]);
    await vi.waitFor(() => expect(got).toEqual([{ account: 'z', cents: 3 }]), { timeout: 10_000 });
    sub.close();
  });

  it('reserved - a node without a store answers $replay with UNKNOWN_METHOD', async () => {
    const bare = createNode({ insecure: true, service: 'bare', host: '127.0.0.1', discovery: 'static' });
    nodes.push(bare);
    await bare.start();
    const asker = createNode({ insecure: true, service: 'asker', host: '127.0.0.1', peers: [bare.endpoints.router] });
    nodes.push(asker);
    await asker.start();
    await asker.waitForService('bare');
    await expect(asker.request('bare', '$replay', Buffer.alloc(0))).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_METHOD });
  });
});
