/**
 * cart's copy of product's catalog (nodes/cart/catalog.ts), fed by a stand-in node
 * that answers ListProducts and GetProduct from a table and counts what it was asked.
 */
import { describe, expect, it } from 'vitest';
import type { MeshNode } from '../transport/index.js';
import { GetProduct, ListProducts, type Product } from '../nodes/commerce/api.js';
import { catalogOf } from '../nodes/cart/catalog.js';

const MUG: Product = { sku: 'mug', name: 'mug', priceCents: 1_800, stock: 5, reserved: 0 };
const HAT: Product = { sku: 'hat', name: 'hat', priceCents: 900, stock: 1, reserved: 0 };

function product(answers: { fail?: boolean }) {
  const asked: string[] = [];
  let release: (() => void) | undefined;
  const node = {
    request: async (_service: string, method: string, payload: Uint8Array) => {
      asked.push(method);
      if (method === ListProducts.method) {
        await new Promise<void>((resolve) => { release = resolve; });
        if (answers.fail === true) throw new Error('product is down');
        return ListProducts.response.encode({ products: [MUG] });
      }
      const { sku } = GetProduct.request.decode(payload);
      return GetProduct.response.encode(sku === HAT.sku ? HAT : MUG);
    },
  } as unknown as MeshNode;
  const answer = async (): Promise<void> => {
    await expect.poll(() => release).toBeDefined();
    const r = release!;
    release = undefined;
    r();
  };
  return { node, asked, answer };
}

describe('cart catalog', () => {
  it('cart catalog - callers within the max age share one ListProducts, in flight or answered; later ones ask again', async () => {
    let t = 0;
    const p = product({});
    const catalog = catalogOf(p.node, 100, () => t);
    const first = Promise.all([catalog.products(), catalog.product('mug'), catalog.products()]);
    await p.answer();
    const [a, mug, b] = await first;
    expect([...a.values()]).toEqual([MUG]);
    expect(mug).toEqual(MUG);
    expect(b).toBe(a);
    t = 99;
    expect(await catalog.products()).toBe(a);
    expect(p.asked).toEqual(['ListProducts']);
    t = 100;
    const again = catalog.products();
    await p.answer();
    await again;
    expect(p.asked).toEqual(['ListProducts', 'ListProducts']);
  });

  it('cart catalog - a sku the copy lacks is asked for on its own', async () => {
    const p = product({});
    const catalog = catalogOf(p.node, 100, () => 0);
    const hat = catalog.product('hat');
    await p.answer();
    expect(await hat).toEqual(HAT);
    expect(p.asked).toEqual(['ListProducts', 'GetProduct']);
  });

  it('cart catalog - a failed ListProducts fails its callers and is not kept; an aborted caller leaves the others their answer', async () => {
    const failing = product({ fail: true });
    const broken = catalogOf(failing.node, 100, () => 0);
    const lost = broken.products();
    await failing.answer();
    await expect(lost).rejects.toThrow('product is down');
    const retry = broken.products();
    await failing.answer();
    await expect(retry).rejects.toThrow('product is down');
    expect(failing.asked).toEqual(['ListProducts', 'ListProducts']);

    const p = product({});
    const catalog = catalogOf(p.node, 100, () => 0);
    const ac = new AbortController();
    const impatient = catalog.products({ signal: ac.signal });
    const patient = catalog.products();
    ac.abort(new Error('caller gone'));
    await expect(impatient).rejects.toThrow('caller gone');
    await p.answer();
    expect([...(await patient).keys()]).toEqual(['mug']);
    expect(p.asked).toEqual(['ListProducts']);
  });
});
