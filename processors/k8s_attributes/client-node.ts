/**
 * What the informers use of `@kubernetes/client-node`: `KubeConfig`
 * (kubeconfig and in-cluster config, authentication, TLS), `Watch`, and its
 * fetch (`IsomorphicFetchHttpLibrary`, `RequestContext`) — loaded without
 * the generated API models and clients.
 *
 * Why: the package's index loads every generated model and API class, and so
 * does `KubeConfig`'s own module (`dist/config.js` imports `gen/index.js` for
 * two names, `createConfiguration` and `ServerConfiguration`, which it uses
 * only to build API clients). That code is 30-40 MB of an agent's resident
 * memory (RSS after GC of a node process, `--max-semi-space-size=4`: 110-115 MB
 * with `KubeConfig` imported, 81 MB this way, bench/k8s-metadata.bench.ts
 * `processFloor` measures both; the agent before its first list 119-120 -> 79
 * MB, processors/k8s_attributes/README.md).
 *
 * How: a module resolution hook (`module.registerHooks`) answers that one
 * import of `dist/config.js` with a module exporting those two names from the
 * generated modules that define them (`gen/configuration.js`,
 * `gen/servers.js`); `KubeConfig`, `Watch` and the fetch come from their own
 * modules (the package has no `exports` map, so deep imports are allowed).
 * Every other import, of this package or any other, resolves as before. If
 * a client-node version imported other names from `gen/index.js`, loading
 * would fail at once, naming the missing export (client-node.test.ts checks
 * this version).
 *
 * The hook must be in place before `dist/config.js` is resolved, hence the
 * dynamic imports: this module is loaded by `kubernetes.ts`, itself imported
 * when a `k8s_attributes` processor needs Kubernetes.
 */
import { registerHooks } from 'node:module';
import type * as ConfigModule from '@kubernetes/client-node/dist/config.js';
import type * as FetchModule from '@kubernetes/client-node/dist/gen/http/isomorphic-fetch.js';
import type * as HttpModule from '@kubernetes/client-node/dist/gen/http/http.js';
import type * as WatchModule from '@kubernetes/client-node/dist/watch.js';

const CONFIG_URL = import.meta.resolve('@kubernetes/client-node/dist/config.js');

/** The two names `dist/config.js` takes from `gen/index.js`, from the modules that define them. */
const SLIM_GEN_INDEX =
  'data:text/javascript,' +
  encodeURIComponent(
    [
      `export { createConfiguration } from ${JSON.stringify(new URL('gen/configuration.js', CONFIG_URL).href)};`,
      `export { ServerConfiguration } from ${JSON.stringify(new URL('gen/servers.js', CONFIG_URL).href)};`,
    ].join('\n'),
  );

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === './gen/index.js' && context.parentURL === CONFIG_URL) {
      return { url: SLIM_GEN_INDEX, format: 'module', shortCircuit: true };
    }
    return nextResolve(specifier, context);
  },
});

const config: typeof ConfigModule = await import('@kubernetes/client-node/dist/config.js');
const watch: typeof WatchModule = await import('@kubernetes/client-node/dist/watch.js');
const http: typeof HttpModule = await import('@kubernetes/client-node/dist/gen/http/http.js');
const fetchLibrary: typeof FetchModule =
  await import('@kubernetes/client-node/dist/gen/http/isomorphic-fetch.js');

export const KubeConfig = config.KubeConfig;
export type KubeConfig = ConfigModule.KubeConfig;
export const Watch = watch.Watch;
export type Watch = WatchModule.Watch;
export const RequestContext = http.RequestContext;
export type RequestContext = HttpModule.RequestContext;
export type ResponseContext = HttpModule.ResponseContext;
export const HttpMethod = http.HttpMethod;
export const IsomorphicFetchHttpLibrary = fetchLibrary.IsomorphicFetchHttpLibrary;
