/** What the built-in factories load, in child processes that record every module resolved. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';

const COMPONENTS = new URL('./components.ts', import.meta.url).href;
const SETTINGS = new URL('../test/support/settings.ts', import.meta.url).href;
const CONFIG = new URL('../test/support/config.ts', import.meta.url).href;

/**
 * Runs `body` (an ES module's text, after `components`, `otlp`, `testSettings`,
 * `testHost`, `factoryConfig` and `packages()` are in scope) in a Node whose
 * resolve hook records the packages and built-in modules imported, and refuses
 * to resolve `blocked`. Returns what `body` printed.
 */
function child(body: string, blocked = ''): string {
  const script = `
    import { registerHooks } from 'node:module';
    const seen = new Set();
    registerHooks({
      resolve(specifier, context, nextResolve) {
        if (specifier === ${JSON.stringify(blocked)}) {
          throw new Error("Cannot find package '" + specifier + "' (blocked by the test)");
        }
        const resolved = nextResolve(specifier, context);
        const pkg = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(resolved.url);
        if (pkg !== null) seen.add(pkg[1]);
        else if (resolved.url.startsWith('node:')) seen.add(resolved.url);
        return resolved;
      },
    });
    const packages = () => [...seen].sort();
    const { builtinFactories: components } = await import(${JSON.stringify(COMPONENTS)});
    const otlp = components.find((f) => f.type === 'otlp');
    const { testHost, testSettings } = await import(${JSON.stringify(SETTINGS)});
    const { factoryConfig } = await import(${JSON.stringify(CONFIG)});
    ${body}
  `;
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

const OTLP_STACK = /^(@grpc\/|@opentelemetry\/|node:http2$|node:tls$|node:crypto$)/;

describe('built-in factories', () => {
  it('load neither the OTLP transport nor crypto until an otlp exporter starts', () => {
    const out = child(`
      const loaded = packages();
      const settings = testSettings('otlp');
      const exporter = otlp.create(settings, factoryConfig(otlp, 'endpoint: 127.0.0.1:4317\\ninterval: 1h'));
      const validated = packages();
      await exporter.start(testHost());
      const started = packages();
      await exporter.shutdown();
      console.log(JSON.stringify({ loaded, validated, started }));
    `);
    const { loaded, validated, started } = JSON.parse(out) as Record<string, string[]>;
    assert.deepEqual(
      loaded!.filter((p) => OTLP_STACK.test(p)),
      [],
      `imported with the factories: ${loaded!.join(' ')}`,
    );
    assert.ok(loaded!.includes('yaml'), 'the resolve hook records packages');
    assert.deepEqual(
      validated!.filter((p) => OTLP_STACK.test(p)),
      [],
      'creating (validating) an otlp exporter loads no transport',
    );
    for (const name of ['@grpc/grpc-js', '@opentelemetry/otlp-exporter-base', 'node:http2']) {
      assert.ok(started!.includes(name), `${name} loaded by start: ${started!.join(' ')}`);
    }
  });

  it('fail the start of an otlp exporter whose transport package is missing, naming it', () => {
    const out = child(
      `
      const exporter = otlp.create(testSettings('otlp'), factoryConfig(otlp, 'endpoint: 127.0.0.1:4317'));
      try {
        await exporter.start(testHost());
        console.log('started');
      } catch (e) {
        console.log(e.message);
      }
      await exporter.shutdown();
    `,
      '@grpc/grpc-js',
    );
    assert.match(
      out,
      /^otlp exporter: cannot load its transport \(@grpc\/grpc-js, @opentelemetry\/otlp-exporter-base\): Cannot find package '@grpc\/grpc-js' \(blocked by the test\); reinstall the agent's packages \(npm ci\)\n$/,
    );
  });
});
