import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { ENDPOINT_PATTERN, boundAddress, closeServer, listen, parseEndpoint } from './http-server.ts';

void test('endpoint: the pattern the configs validate, and its split into host and port', () => {
  for (const ok of ['127.0.0.1:9464', '0.0.0.0:0', ':9464', '[::]:9464', '[::1]:65535', 'agent.local:80']) {
    assert.ok(ENDPOINT_PATTERN.test(ok), ok);
  }
  for (const bad of ['127.0.0.1', '127.0.0.1:65536', 'host:-1', 'http://x:1', '::1:9464', 'a b:1']) {
    assert.ok(!ENDPOINT_PATTERN.test(bad), bad);
  }
  assert.deepEqual(parseEndpoint('[::1]:9464'), { host: '::1', port: 9464 });
  assert.deepEqual(parseEndpoint(':9464'), { host: '', port: 9464 });
  assert.deepEqual(parseEndpoint('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
});

void test('listen: bound address with port 0, an error naming the component and endpoint, close with a keep-alive connection open', async () => {
  const server = http.createServer((_req, res) => res.end('ok'));
  assert.equal(boundAddress(server), undefined, 'not listening yet');
  await listen(server, '127.0.0.1:0', 'test exporter');
  const bound = boundAddress(server);
  assert.equal(bound?.host, '127.0.0.1');
  assert.ok(bound !== undefined && bound.port > 0);
  assert.equal(server.keepAliveTimeout, 65_000);

  const second = http.createServer();
  const endpoint = `127.0.0.1:${bound.port}`;
  await assert.rejects(listen(second, endpoint, 'test exporter'), {
    message: new RegExp(`^test exporter: cannot listen on endpoint ${endpoint}: .*EADDRINUSE`),
  });
  assert.equal(second.listening, false);

  // A client that keeps its connection open: close() alone would wait for the keep-alive timeout.
  const socket = net.connect(bound.port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await closeServer(server);
  await ended;
  assert.equal(server.listening, false);
  assert.equal(boundAddress(server), undefined);
});
