/** The commerce services by name, for the CLI and the demo. */
import { startCart } from '../cart/service.js';
import { startOrder, type OrderOptions } from '../order/service.js';
import { demoCatalog } from '../product/catalog.js';
import { startProduct } from '../product/service.js';
import type { ServiceName } from './api.js';
import type { RunningService, ServiceOptions } from './service.js';

export interface AnyServiceOptions extends ServiceOptions {
  /** product: stock of the scarce demo item when the catalog is first seeded. */
  scarceStock?: number;
  /** order: see OrderOptions.pendingTimeoutMs. */
  pendingTimeoutMs?: OrderOptions['pendingTimeoutMs'];
}

export function startService(name: ServiceName, o: AnyServiceOptions): Promise<RunningService> {
  switch (name) {
    case 'product': return startProduct({ ...o, catalog: demoCatalog(o.scarceStock) });
    case 'cart': return startCart(o);
    case 'order': return startOrder(o);
  }
}
