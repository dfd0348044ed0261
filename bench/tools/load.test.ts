/**
 * Tests of the load tools on the real kernel (root, namespaces; connblast and iperf3 installed by
 * scripts/setup.d/10-net-tools.sh). Short runs: they check the tools work and count consistently,
 * not how fast anything is.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { connblastPath, connectionRate } from './connblast.ts';
import { bulkThroughput } from './iperf.ts';

const run = promisify(execFile);

for (const path of ['loopback', 'veth'] as const) {
  void test(`connblast over ${path}: new connections of 64 B each way, counted on both sides`, async () => {
    const concurrency = 8;
    const r = await connectionRate({ path, seconds: 1, concurrency });
    assert.equal(r.failed, 0, r.firstError);
    assert.ok(r.connections > 100, `only ${r.connections} connections in 1 s`);
    // seconds is printed to the millisecond, the rate from the exact elapsed time.
    assert.ok(Math.abs(r.connectionsPerSecond * r.seconds - r.connections) <= r.connections * 0.001 + 1);
    // Completed connections moved exactly 64 B each way; at most `concurrency` more were in flight at the end.
    assert.ok(r.bytesSent >= 64 * r.connections && r.bytesSent <= 64 * (r.connections + concurrency));
    assert.ok(r.bytesReceived >= 64 * r.connections && r.bytesReceived <= 64 * (r.connections + concurrency));
    assert.ok(r.server.accepted >= r.connections && r.server.accepted <= r.connections + concurrency);
    assert.ok(r.server.bytesOut >= 64 * r.connections && r.server.bytesIn <= r.bytesSent);
    assert.ok(r.cpuSeconds > 0 && r.server.cpuSeconds > 0 && r.cpuMicrosPerConnection > 0);
  });
}

void test('connblast rejects bad arguments with the reason', async () => {
  const bin = connblastPath();
  const failure = await run(bin, ['client', '--host', '127.0.0.1', '--port', '70000']).catch(
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal((failure as { code: number }).code, 2);
  assert.match(
    (failure as { stderr: string }).stderr,
    /--port must be an integer in 0\.\.65535, got "70000"/,
  );
  const refused = await run(bin, ['client', '--host', '127.0.0.1', '--port', '1', '--seconds', '1']);
  const line = JSON.parse(refused.stdout) as { connections: number; failed: number; firstError: string };
  assert.equal(line.connections, 0);
  assert.ok(line.failed > 0);
  assert.equal(line.firstError, 'connect: Connection refused');
});

void test('iperf3 over a veth pair, IPv4 and IPv6 reverse with 2 streams', async () => {
  const v4 = await bulkThroughput({ seconds: 1 });
  assert.ok(v4.bitsPerSecond > 1e8, `${v4.bitsPerSecond} bit/s`);
  assert.ok(v4.bytesReceived > 0 && v4.bytesSent >= v4.bytesReceived);
  const v6 = await bulkThroughput({ seconds: 1, ipv6: true, reverse: true, streams: 2 });
  assert.ok(v6.bitsPerSecond > 1e8, `${v6.bitsPerSecond} bit/s`);
});
