/**
 * Test hook for CLI tests that run the built binary: preloaded with
 * `node --import ./test/support/register-fakes.ts bin/loggerhead.js ...`, it
 * appends test-only factories to the built-in list of the built CLI
 * (dist/cli/components.js), before the CLI builds its registry.
 */
import type { Factory } from '../../core/component.ts';
import { fakeConverterFactory, fakeSourceFactory } from './fake-components.ts';

const builtPath = '../../dist/cli/components.js';
const built = (await import(builtPath)) as { builtinFactories: Factory[] };

built.builtinFactories.push(
  fakeSourceFactory('fake_sockets', 'sockets'),
  fakeSourceFactory('fake_links', 'links'),
  fakeConverterFactory('fake_linker', 'sockets'),
);
