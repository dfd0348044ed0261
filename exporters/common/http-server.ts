/**
 * The HTTP server lifecycle of the exporters that serve (`prometheus`,
 * `servicemap`): a `host:port` endpoint in the config, a listen whose error
 * names the component and the endpoint, the address actually bound (port 0
 * picks one), and a close that does not wait for idle keep-alive connections.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';

const PORT = '(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})';
/** `host:port`, `[v6]:port` or `:port`. */
export const ENDPOINT_PATTERN = new RegExp(`^(?:\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]*):${PORT}$`);

/** Splits a validated endpoint into the host to bind ('' = every interface) and the port. */
export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const colon = endpoint.lastIndexOf(':');
  let host = endpoint.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(endpoint.slice(colon + 1)) };
}

/**
 * Listens on a validated `endpoint` (keep-alive connections kept 65 s, longer than the usual
 * idle timeouts of scrapers and proxies); the error names `component` and the endpoint.
 */
export async function listen(server: http.Server, endpoint: string, component: string): Promise<void> {
  const { host, port } = parseEndpoint(endpoint);
  server.keepAliveTimeout = 65_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: host === '' ? undefined : host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${component}: cannot listen on endpoint ${endpoint}: ${message}`, { cause: error });
  }
}

/** The address `server` is bound to, once listening. */
export function boundAddress(server: http.Server | undefined): { host: string; port: number } | undefined {
  const address = server?.address();
  if (address === null || address === undefined || typeof address === 'string') return undefined;
  const a = address as AddressInfo;
  return { host: a.address, port: a.port };
}

/** Stops listening and closes every connection, idle or not; resolves once the server has closed. */
export async function closeServer(server: http.Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}
