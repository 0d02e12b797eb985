/**
 * The commerce contract as data: every request, reliable command and event of the
 * product, cart and order services, with its protobuf type. Services, shoppers, the
 * CLI and the benchmarks all go through these definitions, never through raw names.
 */
import { defineMethod, type MethodDef } from 'zmesh';
import { zmesh } from '../gen/commerce.js';
import { messageCodec, type MessageType, type Plain } from './codec.js';

export const v1 = zmesh.commerce.v1;
const pb = v1;

export type Product = Plain<zmesh.commerce.v1.Product>;
export type LineItem = Plain<zmesh.commerce.v1.LineItem>;
export type Cart = Plain<zmesh.commerce.v1.Cart>;
export type Order = Plain<zmesh.commerce.v1.Order>;
export type Reservation = Plain<zmesh.commerce.v1.Reservation>;
export type CheckoutReply = Plain<zmesh.commerce.v1.CheckoutReply>;
export type ReserveStock = Plain<zmesh.commerce.v1.ReserveStock>;
export type ReleaseStock = Plain<zmesh.commerce.v1.ReleaseStock>;
export type PlaceOrder = Plain<zmesh.commerce.v1.PlaceOrder>;
export type StockReserved = Plain<zmesh.commerce.v1.StockReserved>;
export type StockRejected = Plain<zmesh.commerce.v1.StockRejected>;
export type OrderEvent = Plain<zmesh.commerce.v1.OrderRejected>;
export const OrderStatus = pb.OrderStatus;
export const CheckoutStatus = pb.CheckoutStatus;
export const ReservationState = pb.ReservationState;

export const SERVICES = ['product', 'cart', 'order'] as const;
export type ServiceName = (typeof SERVICES)[number];

const codec = <C>(t: MessageType<C>) => messageCodec(t);

type AnyType = MessageType<unknown>;
/** Request and response types by "service.Method", for the CLI. */
const requestTypes = new Map<string, { request: AnyType; response: AnyType }>();

const method = <Q, R>(service: ServiceName, name: string, request: MessageType<Q>, response: MessageType<R>): MethodDef<Plain<Q>, Plain<R>> => {
  requestTypes.set(`${service}.${name}`, { request: request as AnyType, response: response as AnyType });
  return defineMethod({ service, method: name, request: codec(request), response: codec(response) });
};

// Requests: answered at once.
export const GetProduct = method('product', 'GetProduct', pb.GetProductRequest, pb.Product);
export const ListProducts = method('product', 'ListProducts', pb.ListProductsRequest, pb.ProductList);
export const ListReservations = method('product', 'ListReservations', pb.ListReservationsRequest, pb.ReservationList);
export const AddItem = method('cart', 'AddItem', pb.AddItemRequest, pb.Cart);
export const RemoveItem = method('cart', 'RemoveItem', pb.RemoveItemRequest, pb.Cart);
export const GetCart = method('cart', 'GetCart', pb.GetCartRequest, pb.Cart);
export const Checkout = method('cart', 'Checkout', pb.CheckoutRequest, pb.CheckoutReply);
export const GetOrder = method('order', 'GetOrder', pb.GetOrderRequest, pb.Order);
export const ListOrders = method('order', 'ListOrders', pb.ListOrdersRequest, pb.OrderList);

/** A reliable command: persisted in the sender's outbox, applied once by the receiver. */
const command = <C>(service: ServiceName, name: string, type: MessageType<C>) =>
  Object.freeze({ service, method: name, codec: codec(type), type });

export const ReserveStockCmd = command('product', 'ReserveStock', pb.ReserveStock);
export const ReleaseStockCmd = command('product', 'ReleaseStock', pb.ReleaseStock);
export const PlaceOrderCmd = command('order', 'PlaceOrder', pb.PlaceOrder);

/** Reliable events, by topic. `product.changed.<sku>` carries the sku in the topic. */
export const Topics = {
  productChanged: (sku: string) => `product.changed.${sku}`,
  stockReserved: 'product.stock.reserved',
  stockRejected: 'product.stock.rejected',
  orderPlaced: 'order.placed',
  orderConfirmed: 'order.confirmed',
  orderRejected: 'order.rejected',
} as const;

export const Events = {
  productChanged: codec(pb.ProductChanged),
  stockReserved: codec(pb.StockReserved),
  stockRejected: codec(pb.StockRejected),
  orderPlaced: codec(pb.OrderPlaced),
  orderConfirmed: codec(pb.OrderConfirmed),
  orderRejected: codec(pb.OrderRejected),
};

/** Everything the CLI can encode or decode, by name. */
export const Registry = {
  requestTypes: requestTypes as ReadonlyMap<string, { request: AnyType; response: AnyType }>,
  /** Event types by topic prefix, longest match first. */
  eventTypes: [
    ['product.changed.', pb.ProductChanged],
    [Topics.stockReserved, pb.StockReserved],
    [Topics.stockRejected, pb.StockRejected],
    [Topics.orderPlaced, pb.OrderPlaced],
    [Topics.orderConfirmed, pb.OrderConfirmed],
    [Topics.orderRejected, pb.OrderRejected],
  ] as Array<[string, AnyType]>,
};

export function eventTypeOf(topic: string): AnyType | undefined {
  return Registry.eventTypes.find(([prefix]) => topic.startsWith(prefix))?.[1];
}
