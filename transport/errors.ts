/**
 * The zmesh error catalog. Every condition a caller can meet has one class and one
 * stable code. A code is never reused for another meaning; codes that cross the wire
 * (see `WIRE_CODES`) travel as ErrorReply.code and are rebuilt here as the same class
 * on the caller's side.
 */

export const ErrorCode = {
  /** No live instance of the target service (locally), or the node reached is not it. */
  NO_ROUTE: 'ZMESH_ERR_NO_ROUTE',
  /** The target service has no handler for the method. */
  UNKNOWN_METHOD: 'ZMESH_ERR_UNKNOWN_METHOD',
  /** The remote handler threw. The message is the handler's. */
  HANDLER_FAILED: 'ZMESH_ERR_HANDLER_FAILED',
  /** No reply within the deadline. */
  TIMEOUT: 'ZMESH_ERR_TIMEOUT',
  /** A message or payload that could not be decoded or failed validation. */
  BAD_MESSAGE: 'ZMESH_ERR_BAD_MESSAGE',
  /** The peer speaks another protocol version. */
  VERSION_MISMATCH: 'ZMESH_ERR_VERSION_MISMATCH',
  /** A bounded send queue is full; the message was not queued. */
  QUEUE_FULL: 'ZMESH_ERR_QUEUE_FULL',
  /** A payload or frame exceeds the configured maximum size. */
  MESSAGE_TOO_LARGE: 'ZMESH_ERR_MESSAGE_TOO_LARGE',
  /** The peer serving the request went down before it answered. */
  PEER_DOWN: 'ZMESH_ERR_PEER_DOWN',
  /** The caller's AbortSignal fired. */
  ABORTED: 'ZMESH_ERR_ABORTED',
  /** The node is closed or closing. */
  CLOSED: 'ZMESH_ERR_CLOSED',
  /** The outbox holds its configured maximum; the message was not stored. */
  OUTBOX_FULL: 'ZMESH_ERR_OUTBOX_FULL',
  /** The node's store is corrupt, foreign, newer than this code, locked or unreadable,
   *  or one of the application's migrations failed. */
  STORE: 'ZMESH_ERR_STORE',
  /** The node's store cannot grow (disk full); nothing was written. A condition of the
   *  node, not of the message: a reliable command answered with it is held and sent
   *  again without counting an attempt. */
  STORE_FULL: 'ZMESH_ERR_STORE_FULL',
  /** A reliable command arrived ahead of its predecessor; the sender resends from the gap. */
  OUT_OF_ORDER: 'ZMESH_ERR_OUT_OF_ORDER',
  /** A socket could not bind (address in use, no such interface). */
  BIND_FAILED: 'ZMESH_ERR_BIND_FAILED',
  /** A bad argument from application code (topic, service name, option). */
  INVALID_ARGUMENT: 'ZMESH_ERR_INVALID_ARGUMENT',
  /** The authenticated sender has no right to this message (proto/README.md section 17). */
  FORBIDDEN: 'ZMESH_ERR_FORBIDDEN',
  /** Credentials cannot be used: a key file that is malformed or readable by others, a
   *  certificate that is forged, expired, revoked or for another mesh or key. */
  SECURITY: 'ZMESH_ERR_SECURITY',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ZmeshErrorOptions extends ErrorOptions {
  /** True when sending the same message again may succeed. */
  retryable?: boolean;
  /** The node that produced the error, when it came over the wire. */
  remoteNode?: string;
}

export class ZmeshError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly remoteNode: string | undefined;

  constructor(code: ErrorCode, message: string, options: ZmeshErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.remoteNode = options.remoteNode;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

// One class per code, so callers can `instanceof` or switch on `code`.
export class NoRouteError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.NO_ROUTE, message, { retryable: true, ...o }); }
}
export class UnknownMethodError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.UNKNOWN_METHOD, message, o); }
}
export class HandlerFailedError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.HANDLER_FAILED, message, o); }
}
export class TimeoutError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.TIMEOUT, message, { retryable: true, ...o }); }
}
export class BadMessageError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.BAD_MESSAGE, message, o); }
}
export class VersionMismatchError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.VERSION_MISMATCH, message, o); }
}
export class QueueFullError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.QUEUE_FULL, message, { retryable: true, ...o }); }
}
export class MessageTooLargeError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.MESSAGE_TOO_LARGE, message, o); }
}
export class PeerDownError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.PEER_DOWN, message, { retryable: true, ...o }); }
}
export class AbortedError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.ABORTED, message, o); }
}
export class ClosedError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.CLOSED, message, o); }
}
export class OutboxFullError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.OUTBOX_FULL, message, { retryable: true, ...o }); }
}
/** 'migration': a step of the `migrations` option failed (rolled back; the store is
 *  at its earlier step). 'unconfirmed': the write committed and stands (a command is
 *  delivered, an event served) but the fsync after it failed, so it may not survive a
 *  power cut; sending it again would deliver it twice. The others: see the STORE code. */
export type StoreProblem = 'corrupt' | 'foreign' | 'newer' | 'locked' | 'io' | 'migration' | 'unconfirmed';
export class StoreError extends ZmeshError {
  readonly problem: StoreProblem;
  constructor(problem: StoreProblem, message: string, o: ZmeshErrorOptions = {}) {
    super(ErrorCode.STORE, message, o);
    this.problem = problem;
  }
}
export class StoreFullError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.STORE_FULL, message, { retryable: true, ...o }); }
}
/** A store error reported by a peer; the problem is not known on this side. */
class RemoteStoreError extends StoreError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super('io', message, o); }
}
export class OutOfOrderError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.OUT_OF_ORDER, message, { retryable: true, ...o }); }
}
export class BindFailedError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.BIND_FAILED, message, o); }
}
export class InvalidArgumentError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.INVALID_ARGUMENT, message, o); }
}

export class ForbiddenError extends ZmeshError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super(ErrorCode.FORBIDDEN, message, o); }
}
export type SecurityProblem = 'key' | 'certificate' | 'expired' | 'revoked' | 'authority' | 'mesh' | 'config';
export class SecurityError extends ZmeshError {
  readonly problem: SecurityProblem;
  constructor(problem: SecurityProblem, message: string, o: ZmeshErrorOptions = {}) {
    super(ErrorCode.SECURITY, message, o);
    this.problem = problem;
  }
}
/** A security error reported by a peer; the problem is not known on this side. */
class RemoteSecurityError extends SecurityError {
  constructor(message: string, o: ZmeshErrorOptions = {}) { super('certificate', message, o); }
}

type ErrorClass = new (message: string, o?: ZmeshErrorOptions) => ZmeshError;

const CLASS_BY_CODE: Record<ErrorCode, ErrorClass> = {
  [ErrorCode.NO_ROUTE]: NoRouteError,
  [ErrorCode.UNKNOWN_METHOD]: UnknownMethodError,
  [ErrorCode.HANDLER_FAILED]: HandlerFailedError,
  [ErrorCode.TIMEOUT]: TimeoutError,
  [ErrorCode.BAD_MESSAGE]: BadMessageError,
  [ErrorCode.VERSION_MISMATCH]: VersionMismatchError,
  [ErrorCode.QUEUE_FULL]: QueueFullError,
  [ErrorCode.MESSAGE_TOO_LARGE]: MessageTooLargeError,
  [ErrorCode.PEER_DOWN]: PeerDownError,
  [ErrorCode.ABORTED]: AbortedError,
  [ErrorCode.CLOSED]: ClosedError,
  [ErrorCode.OUTBOX_FULL]: OutboxFullError,
  [ErrorCode.STORE]: RemoteStoreError,
  [ErrorCode.STORE_FULL]: StoreFullError,
  [ErrorCode.OUT_OF_ORDER]: OutOfOrderError,
  [ErrorCode.BIND_FAILED]: BindFailedError,
  [ErrorCode.INVALID_ARGUMENT]: InvalidArgumentError,
  [ErrorCode.FORBIDDEN]: ForbiddenError,
  [ErrorCode.SECURITY]: RemoteSecurityError,
};

/** Codes a node may put in an ErrorReply. The others only ever arise locally. */
export const WIRE_CODES: readonly ErrorCode[] = [
  ErrorCode.NO_ROUTE,
  ErrorCode.UNKNOWN_METHOD,
  ErrorCode.HANDLER_FAILED,
  ErrorCode.BAD_MESSAGE,
  ErrorCode.VERSION_MISMATCH,
  ErrorCode.MESSAGE_TOO_LARGE,
  ErrorCode.QUEUE_FULL,
  ErrorCode.CLOSED,
  ErrorCode.OUT_OF_ORDER,
  ErrorCode.STORE_FULL,
  ErrorCode.FORBIDDEN,
  ErrorCode.SECURITY,
];

const ALL_CODES = new Set<string>(Object.values(ErrorCode));

export function isErrorCode(code: string): code is ErrorCode {
  return ALL_CODES.has(code);
}

/**
 * Rebuilds a typed error from an ErrorReply. An unknown code (a newer peer) becomes
 * HANDLER_FAILED with the original code kept in the message, never a crash.
 */
export function errorFromWire(code: string, message: string, retryable: boolean, remoteNode: string): ZmeshError {
  if (isErrorCode(code)) return new CLASS_BY_CODE[code](message, { retryable, remoteNode });
  return new HandlerFailedError(`${code}: ${message}`, { retryable, remoteNode });
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
