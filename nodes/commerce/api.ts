/**
 * The commerce contract as data: every request, reliable command and event of the
 * product, cart and order services, each declared once with its protobuf type, and
 * the three services as declarations of what they answer, apply, emit and consume.
 * Services, shoppers, the CLI (its registry is built from COMMERCE) and the
 * benchmarks all go through these definitions, never through raw names and bytes.
 */
import { defineCommand, defineEvent, defineMethod, defineService, type MethodDef, type ServiceDef } from 'zmesh';
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

const codec = messageCodec;

const method = <Q, R>(service: string, name: string, request: MessageType<Q>, response: MessageType<R>): MethodDef<Plain<Q>, Plain<R>> =>
  defineMethod({ service, method: name, request: codec(request), response: codec(response) });

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

// Reliable commands: persisted in the sender's outbox, applied once by the receiver.
export const ReserveStock = defineCommand({ service: 'product', method: 'ReserveStock', codec: codec(pb.ReserveStock) });
export const ReleaseStock = defineCommand({ service: 'product', method: 'ReleaseStock', codec: codec(pb.ReleaseStock) });
export const PlaceOrder = defineCommand({ service: 'order', method: 'PlaceOrder', codec: codec(pb.PlaceOrder) });

// Reliable events. product.changed.<sku> is a family: the sku completes the topic.
export const ProductChanged = defineEvent({ topic: 'product.changed.', family: true, codec: codec(pb.ProductChanged) });
export const StockReserved = defineEvent({ topic: 'product.stock.reserved', codec: codec(pb.StockReserved) });
export const StockRejected = defineEvent({ topic: 'product.stock.rejected', codec: codec(pb.StockRejected) });
export const OrderPlaced = defineEvent({ topic: 'order.placed', codec: codec(pb.OrderPlaced) });
export const OrderConfirmed = defineEvent({ topic: 'order.confirmed', codec: codec(pb.OrderConfirmed) });
export const OrderRejected = defineEvent({ topic: 'order.rejected', codec: codec(pb.OrderRejected) });

/** defineService, keeping the literal name so that ServiceName stays a union. */
const service = <N extends string>(def: Parameters<typeof defineService>[0] & { name: N }): ServiceDef & { readonly name: N } =>
  defineService(def) as ServiceDef & { readonly name: N };

export const ProductService = service({
  name: 'product',
  requests: [GetProduct, ListProducts, ListReservations],
  commands: [ReserveStock, ReleaseStock],
  emits: [ProductChanged, StockReserved, StockRejected],
});

export const CartService = service({
  name: 'cart',
  requests: [AddItem, RemoveItem, GetCart, Checkout],
  consumes: [OrderConfirmed, OrderRejected],
});

export const OrderService = service({
  name: 'order',
  requests: [GetOrder, ListOrders],
  commands: [PlaceOrder],
  emits: [OrderPlaced, OrderConfirmed, OrderRejected],
  consumes: [StockReserved, StockRejected],
});

/** Every commerce service, in no particular order. */
export const COMMERCE = [ProductService, CartService, OrderService] as const;

export type ServiceName = (typeof COMMERCE)[number]['name'];
export const SERVICES: readonly ServiceName[] = Object.freeze(COMMERCE.map((s) => s.name));
