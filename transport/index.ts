/**
 * zmesh public API. Exports are named by hand: anything not listed here is internal
 * and may change without notice.
 */
export { createNode } from './node.js';
export {
  ErrorCode,
  WIRE_CODES,
  ZmeshError,
  NoRouteError,
  UnknownMethodError,
  HandlerFailedError,
  TimeoutError,
  BadMessageError,
  VersionMismatchError,
  QueueFullError,
  MessageTooLargeError,
  PeerDownError,
  AbortedError,
  ClosedError,
  BindFailedError,
  InvalidArgumentError,
  OutboxFullError,
  StoreError,
  OutOfOrderError,
  isErrorCode,
} from './errors.js';
export type { ZmeshErrorOptions, StoreProblem } from './errors.js';
export { openStoreAdmin } from './reliable/admin.js';
export type { StoreAdmin, OutboxEntry } from './reliable/admin.js';
export {
  bytesCodec, jsonCodec, protoCodec, defineMethod, defineCommand, defineEvent, defineService, topicOf, isEventOf,
} from './defs.js';
export type { Codec, ProtoType, MethodDef, CommandDef, EventDef, ServiceDef, PublishOptions } from './defs.js';
export { call, serve, serveReliable, subscribeDurable, on } from './typed.js';
export type { TypedHandler, TypedReliableHandler, DurableOn } from './typed.js';
export { PROTOCOL_VERSION } from './codec/envelope.js';
export { SERVICE_RE, NODE_ID_RE, MESH_RE, isServiceName, isNodeId, isMeshName, isEndpoint, parseEndpoint } from './names.js';
export { systemClock } from './clock.js';
export { mdnsDiscovery, MDNS_SERVICE_TYPE } from './discovery/mdns.js';
export { staticDiscovery } from './discovery/static.js';
export type { StaticDiscovery, StaticOptions } from './discovery/static.js';
export type { MdnsDiscovery, MdnsOptions, MdnsRecord, MdnsStats } from './discovery/mdns.js';
export { runtimeInfo } from './runtime.js';
export type { RuntimeInfo } from './runtime.js';
export {
  DEFAULT_MESH,
  REQUEST_TIMEOUT_MS,
  MAX_PAYLOAD_BYTES,
  SEND_QUEUE_LIMIT,
  HEARTBEAT_INTERVAL_MS,
  SUSPECT_AFTER_MS,
  DEAD_AFTER_MS,
  CLOSE_TIMEOUT_MS,
  SUBSCRIBE_TIMEOUT_MS,
  RELIABLE_DEFAULTS,
  MDNS_DEFAULTS,
} from './options.js';
export type {
  NodeOptions,
  NodeComponents,
  NodeObserver,
  Clock,
  MeshNode,
  NodeEndpoints,
  Handler,
  HandlerContext,
  RequestOptions,
  SendOptions,
  MeshEvent,
  EventListener,
  SubscribeOptions,
  Subscription,
  Sender,
  PeerInfo,
  PeerState,
  NodeEvent,
  NodeEventType,
  NodeEventOf,
  NodeStats,
  DropReason,
  Discovery,
  DiscoveryMode,
  DiscoverySink,
  Candidate,
  LocalNode,
  ReliableOptions,
  ReliableHandler,
  ReliableContext,
  Transaction,
  Database,
  DurableEvent,
  DurableHandler,
  ReliableStats,
} from './types.js';
