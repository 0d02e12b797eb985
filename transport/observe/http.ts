/**
 * The metrics port: node:http, three routes, GET (and HEAD) only.
 *
 *   GET /metrics   Prometheus text of the registry (its content type), 200
 *   GET /healthz   200 {"status":"ok"} while live, else 503
 *   GET /readyz    200 {"status":"ready",...} or 503 {"status":"not ready","failed":[...]}
 *
 * No auth, no caching (Cache-Control: no-store), small bodies: what Kubernetes probes,
 * systemd watchdog scripts and Prometheus expect. It binds 127.0.0.1 unless told
 * otherwise (options.ts METRICS_HOST).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { BindFailedError } from '../errors.js';
import type { Verdict } from './health.js';

export interface MetricsRoutes {
  /** Prometheus text and its content type. */
  metrics(): Promise<{ body: string; contentType: string }>;
  live(): Verdict;
  ready(): Verdict;
}

export interface MetricsServer {
  /** "http://<host>:<port>", as bound. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

const probe = (res: ServerResponse, v: Verdict, okStatus: string, badStatus: string): void =>
  json(res, v.ok ? 200 : 503, v.ok ? { status: okStatus, checks: v.checks } : { status: badStatus, failed: v.failed, checks: v.checks });

async function answer(routes: MetricsRoutes, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' });
    res.end();
    return;
  }
  const path = (req.url ?? '/').split('?')[0];
  switch (path) {
    case '/metrics': {
      const { body, contentType } = await routes.metrics();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    case '/healthz': return probe(res, routes.live(), 'ok', 'not live');
    case '/readyz': return probe(res, routes.ready(), 'ready', 'not ready');
    default: json(res, 404, { error: 'not found', paths: ['/metrics', '/healthz', '/readyz'] });
  }
}

/** Listens on host:port (0: any free port). Rejects BIND_FAILED. */
export async function startMetricsServer(host: string, port: number, routes: MetricsRoutes, log: Logger): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    answer(routes, req, res).catch((err: unknown) => {
      log.warn({ err }, 'metrics request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  // Probes come every few seconds; an idle keep-alive connection must not hold close().
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new BindFailedError(`metrics server could not listen on ${host}:${port}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.warn({ err }, 'metrics server error'));
  const bound = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${bound}`,
    port: bound,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
