/** Demo seed data: one scarce item that shoppers compete for, and plenty of the rest. */
export interface SeedProduct {
  sku: string;
  name: string;
  priceCents: number;
  stock: number;
}

/** The scarce item of the demo. */
export const SCARCE_SKU = 'zmesh-mug';

export function demoCatalog(scarceStock = 50): SeedProduct[] {
  return [
    { sku: SCARCE_SKU, name: 'zmesh mug, limited edition', priceCents: 1_800, stock: scarceStock },
    { sku: 'sticker-pack', name: 'sticker pack', priceCents: 350, stock: 1_000_000 },
    { sku: 'tshirt', name: 'zmesh t-shirt', priceCents: 2_400, stock: 1_000_000 },
    { sku: 'hoodie', name: 'zmesh hoodie', priceCents: 5_500, stock: 1_000_000 },
  ];
}
