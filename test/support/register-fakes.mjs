// Preload for CLI tests (`node --import ./test/support/register-fakes.mjs bin/loggerhead.js ...`):
// registers the test-only factories of register-fakes.ts in the built CLI. Plain JavaScript so that
// an old system Node running the bin shim can load it too: there it does nothing, and the Node 24
// the shim re-runs itself with (same flags) does the registering.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major > 22 || (major === 22 && minor >= 19)) await import('./register-fakes.ts');
