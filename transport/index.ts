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
  StoreFullError,
  OutOfOrderError,
  ForbiddenError,
  SecurityError,
  isErrorCode,
  errorFromWire,
} from './errors.js';
export type { ZmeshErrorOptions, StoreProblem, SecurityProblem } from './errors.js';
export { openStoreAdmin } from './reliable/admin.js';
export { storedNodeId } from './store/identity.js';
export type { StoreAdmin, OutboxEntry, StoreFigures, DurableProgress } from './reliable/admin.js';
export {
  bytesCodec, jsonCodec, protoCodec, defineMethod, defineCommand, defineEvent, defineService, topicOf, isEventOf,
} from './defs.js';
export type { Codec, ProtoType, MethodDef, CommandDef, EventDef, ServiceDef, PublishOptions } from './defs.js';
export { call, serve, serveReliable, subscribeDurable, on, commonPrefix } from './typed.js';
export type { TypedHandler, TypedReliableHandler, DurableOn } from './typed.js';
export { PROTOCOL_VERSION } from './codec/envelope.js';
export { SERVICE_RE, NODE_ID_RE, MESH_RE, isServiceName, isNodeId, isMeshName, isEndpoint, isHost, isSubject, parseEndpoint, parsePeer } from './names.js';
export { MAX_SUBJECT_BYTES, MAX_HEADERS_BYTES } from './limits.js';
export { SUMMARY_TOPIC } from './names.js';
export { decodeSummary, encodeSummary } from './observe/summary-codec.js';
export { systemClock } from './clock.js';
export { fanOut } from './observe.js';
export { mdnsDiscovery, MDNS_SERVICE_TYPE } from './discovery/mdns.js';
export { staticDiscovery } from './discovery/static.js';
export { dnsDiscovery, DNS_SERVICE_TYPE } from './discovery/dns.js';
export { isDnsDomain, isDnsServer } from './options.js';
export type { DnsDiscovery, DnsOptions, DnsStats } from './discovery/dns.js';
export type { StaticDiscovery, StaticOptions } from './discovery/static.js';
export type { MdnsDiscovery, MdnsOptions, MdnsRecord, MdnsStats } from './discovery/mdns.js';
export { runtimeInfo } from './runtime.js';
export {
  MAX_PENDING_LINKS,
  PENDING_LINK_TTL_MS,
  MAX_SUBSCRIPTIONS,
  MAX_SUBSCRIPTION_FRAME_BYTES,
  MAX_REPLAY_BYTES,
  MAX_REPLAY_SCAN_ROWS,
  REPLAY_BYTES_PER_SECOND,
  REPLAY_BURST_BYTES,
  MAX_DURABLE_NAMES,
  MAX_DURABLE_NAMES_PER_ASKER,
  MAX_IN_FLIGHT_PER_CALLER,
} from './bounds.js';
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
  SUMMARY_INTERVAL_MS,
  RELIABLE_DEFAULTS,
  MDNS_DEFAULTS,
  checkNodeOptions,
} from './options.js';
export type {
  NodeOptions,
  TracingOptions,
  TracerLike,
  NodeComponents,
  NodeObserver,
  MetricsOptions,
  Clock,
  SecurityOptions,
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
  NodeSummary,
  BoundsStats,
  DropReason,
  Discovery,
  DiscoveryMode,
  DiscoverySink,
  Candidate,
  LocalNode,
  ReliableOptions,
  Durability,
  ReliableHandler,
  ReliableContext,
  Transaction,
  Database,
  Migration,
  DurableEvent,
  DurableHandler,
  ReliableStats,
  StoreStats,
  BatchStats,
} from './types.js';

// ---- Trust (issue "Trust"): node keys, mesh authority, certificates, permissions,
// per-message MACs. transport/security/; see proto/security.proto.
export { z85Encode, z85Decode } from './security/z85.js';
export {
  generateNodeKeys, keyBytes, keyFingerprint, nodeIdFor, saveNodeKeys, loadNodeKeys, loadPublicKey,
} from './security/keys.js';
export type { NodeKeys } from './security/keys.js';
export {
  createAuthority, loadAuthority, loadAuthorityPublicKey, AUTHORITY_KEY_FILE, AUTHORITY_PUB_FILE, SERIAL_FILE, REVOKED_FILE,
} from './security/authority.js';
export type { Authority } from './security/authority.js';
export { lastSerial, nextSerial, revokedSerials, revokeSerials } from './security/ledger.js';
export type { Revocation } from './security/ledger.js';
export {
  issueCertificate, readCertificate, verifyCertificate, issueRevocationList, verifyRevocationList, isoTime, MAX_CERTIFICATE_BYTES,
} from './security/certificate.js';
export type { CertificateInfo, CertificateFields, VerifyOptions } from './security/certificate.js';
export { mayCall, mayPublish, maySubscribe, parseRules, noPermissions } from './security/permissions.js';
export type { Permissions, RuleSet, RuleKind } from './security/permissions.js';
export { macKey, sealHeader, openHeader, bindFrame, verifyBindFrame, MAC_BYTES, MAC_TRAILER_BYTES, BIND_FRAME_BYTES } from './security/mac.js';
