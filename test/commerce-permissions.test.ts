/**
 * The commerce permissions (nodes/commerce/permissions.ts) as data: what each service
 * and the client may do, derived from the declarations in nodes/commerce/api.ts, and
 * checked with zmesh's own authorization functions.
 */
import { describe, expect, it } from 'vitest';
import { commonPrefix, mayCall, mayPublish, maySubscribe, topicOf } from '../transport/index.js';
import { COMMERCE } from '../nodes/commerce/api.js';
import { CALLS, CLIENT_SERVICE, SERVICE_PERMISSIONS, certIssueArgs, clientPermissions } from '../nodes/commerce/permissions.js';

const none = { allow: [], deny: [] };

describe('commerce permissions', () => {
  it('commerce - each service may publish what it emits, subscribe to what it consumes, send what it calls', () => {
    expect(SERVICE_PERMISSIONS).toEqual({
      product: {
        send: none,
        publish: { allow: ['product.changed.', 'product.stock.reserved', 'product.stock.rejected'], deny: [] },
        subscribe: none,
      },
      cart: {
        send: { allow: ['product.GetProduct', 'product.ListProducts', 'order.PlaceOrder'], deny: [] },
        publish: none,
        subscribe: { allow: ['order.'], deny: [] },
      },
      order: {
        send: { allow: ['product.ReserveStock', 'product.ReleaseStock'], deny: [] },
        publish: { allow: ['order.placed', 'order.confirmed', 'order.rejected'], deny: [] },
        subscribe: { allow: ['product.stock.'], deny: [] },
      },
    });
    for (const def of COMMERCE) {
      const p = SERVICE_PERMISSIONS[def.name];
      for (const e of def.emits) expect(mayPublish(p, topicOf(e, e.family ? 'sku-1' : undefined)), e.topic).toBe(true);
      // What the service's durable subscription asks for (zmesh's subscribeDurable).
      if (def.consumes.length > 0) expect(maySubscribe(p, commonPrefix(def.consumes.map((c) => c.topic)))).toBe(true);
      for (const c of CALLS[def.name]) expect(mayCall(p, c.service, c.method)).toBe(true);
      // Nothing else: not its own methods, not another service's topics.
      expect(mayCall(p, def.name, 'Anything')).toBe(false);
      expect(mayPublish(p, 'cart.x')).toBe(false);
    }
  });

  it('commerce - every call a service makes is a declared request or command', () => {
    const declared = new Set(COMMERCE.flatMap((d) => [...d.requests, ...d.commands]));
    for (const calls of Object.values(CALLS)) for (const c of calls) expect(declared.has(c), `${c.service}.${c.method}`).toBe(true);
  });

  it('commerce - the client may make shopper-facing and read-only requests, watch everything, and send no command', () => {
    const p = clientPermissions();
    expect(CLIENT_SERVICE).toBe('cli');
    expect(p.send.allow).toEqual([
      'product.GetProduct', 'product.ListProducts', 'product.ListReservations',
      'cart.AddItem', 'cart.RemoveItem', 'cart.GetCart', 'cart.Checkout',
      'order.GetOrder', 'order.ListOrders',
    ]);
    for (const def of COMMERCE) {
      for (const c of def.commands) expect(mayCall(p, c.service, c.method), `${c.service}.${c.method}`).toBe(false);
    }
    expect(mayPublish(p, 'order.confirmed')).toBe(false);
    expect(maySubscribe(p, '')).toBe(true);
    expect(maySubscribe(p, 'product.stock.')).toBe(true);
  });

  it('commerce - certIssueArgs writes the permissions as zmesh cert issue options', () => {
    expect(certIssueArgs(SERVICE_PERMISSIONS.cart)).toEqual(['--allow-send', 'product.GetProduct,product.ListProducts,order.PlaceOrder', '--allow-subscribe', 'order.']);
    expect(certIssueArgs({ send: { allow: ['a.B'], deny: ['a.C'] }, publish: none, subscribe: none })).toEqual(['--allow-send', 'a.B', '--deny-send', 'a.C']);
  });
});
