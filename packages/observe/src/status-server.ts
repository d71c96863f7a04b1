import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { observe, type Monitor } from './monitor.js';
import { statusPage } from './status-page.js';

export interface ServeStatusOptions {
  /** TCP port; 0 picks a free one. Default 9464. */
  readonly port?: number;
  /** Interface to listen on. Default `127.0.0.1` (loopback only); `0.0.0.0` exposes it. */
  readonly host?: string;
  /** The monitor to show. Default: a new `observe()`. */
  readonly monitor?: Monitor;
  /** Served on `/metrics`, with the monitor's gauges refreshed first. Without it `/metrics` is 404. */
  readonly registry?: Registry;
  /** The page's title. Default `rxkafka`. */
  readonly title?: string;
}

export interface StatusServer extends AsyncDisposable {
  /** `http://host:port/`. */
  readonly url: string;
  readonly port: number;
  readonly monitor: Monitor;
  readonly server: Server;
  close(): Promise<void>;
}

/**
 * Starts one small HTTP server: `/` (a live status page: the chain of each service, per-handler rate,
 * latency and failures, a partition table with each partition's condition, the last dead-lettered
 * records), `/status.json` (what the page shows), `/metrics` (Prometheus), `/health/live` (503 once a
 * partition is stalled past the monitor's `liveFailsAfter`) and `/health/ready` (503 until every
 * watched source is running with partitions assigned).
 *
 * @example
 * ```ts
 * const monitor = observe().watch(source);
 * await using status = await serveStatus({ port: 9464, monitor, registry });
 * console.log(`status page: ${status.url}`);
 * ```
 */
export async function serveStatus(options: ServeStatusOptions = {}): Promise<StatusServer> {
  const monitor = options.monitor ?? observe();
  const host = options.host ?? '127.0.0.1';
  const page = statusPage(options.title ?? 'rxkafka');
  const server = createServer((request, response) => {
    handle(request, response, monitor, options.registry, page).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(error instanceof Error ? error.message : 'internal error');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9464, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // A status server never keeps a finished service alive by itself.
  server.unref();
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= new Promise((resolve) => {
      server.close(() => {
        resolve();
      });
      server.closeAllConnections();
    }));
  return {
    url: `http://${shown}:${String(port)}/`,
    port,
    monitor,
    server,
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  monitor: Monitor,
  registry: Registry | undefined,
  page: string,
): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
    response.end('method not allowed\n');
    return;
  }
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  const send = (status: number, type: string, body: string): void => {
    response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    response.end(request.method === 'HEAD' ? undefined : body);
  };
  const json = (status: number, body: unknown): void => {
    send(status, 'application/json; charset=utf-8', JSON.stringify(body));
  };
  switch (path) {
    case '/':
    case '/index.html':
      send(200, 'text/html; charset=utf-8', page);
      return;
    case '/status.json':
      json(200, monitor.status());
      return;
    case '/health/live': {
      const { live } = monitor.status();
      json(live.ok ? 200 : 503, { status: live.ok ? 'ok' : 'failing', reasons: live.reasons });
      return;
    }
    case '/health/ready': {
      const { ready } = monitor.status();
      json(ready.ok ? 200 : 503, { status: ready.ok ? 'ok' : 'not ready', reasons: ready.reasons });
      return;
    }
    case '/metrics': {
      if (registry === undefined) {
        send(404, 'text/plain; charset=utf-8', 'no metrics registry: pass serveStatus({ registry })\n');
        return;
      }
      monitor.collect();
      send(200, registry.contentType, await registry.metrics());
      return;
    }
    default:
      send(404, 'text/plain; charset=utf-8', 'not found\n');
  }
}
