/**
 * client-node.ts loads `KubeConfig`, `Watch` and the fetch of
 * `@kubernetes/client-node` without the generated models and API classes,
 * and they work: checked on every module this process resolves (a recording
 * hook, registered before anything of client-node is loaded).
 */
import assert from 'node:assert/strict';
import { registerHooks } from 'node:module';
import { describe, it } from 'node:test';

const resolved: string[] = [];
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    resolved.push(result.url);
    return result;
  },
});
const client = await import('./client-node.ts');

describe('client-node', () => {
  it('loads KubeConfig, Watch and the fetch without the generated models and APIs', () => {
    const ours = resolved.filter((u) => u.includes('/@kubernetes/client-node/'));
    assert.ok(
      ours.some((u) => u.endsWith('/dist/config.js')),
      'KubeConfig comes from client-node itself',
    );
    assert.ok(ours.some((u) => u.endsWith('/dist/watch.js')));
    const heavy = ours.filter((u) => /\/dist\/(gen\/(index|models\/|apis\/|types\/)|index\.js)/.test(u));
    assert.deepEqual(heavy, []);
    // dist/config.js's import of gen/index.js is answered with the two modules that define what it uses.
    for (const name of ['/dist/gen/configuration.js', '/dist/gen/servers.js'])
      assert.ok(
        ours.some((u) => u.endsWith(name)),
        name,
      );
  });

  it('a KubeConfig from it authenticates requests', async () => {
    const kc = new client.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: false }],
      users: [{ name: 'u', token: 'secret-token' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const ctx = new client.RequestContext('https://127.0.0.1:6443/api/v1/pods', client.HttpMethod.GET);
    await kc.applySecurityAuthentication(ctx);
    assert.equal(ctx.getHeaders().Authorization, 'Bearer secret-token');
    assert.equal(typeof new client.Watch(kc).watch, 'function');
    assert.equal(typeof new client.IsomorphicFetchHttpLibrary().send, 'function');
  });
});
