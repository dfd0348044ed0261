import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadPipelineConfig } from '../core/config/load.ts';
import { Registry } from '../core/registry.ts';
import { builtinFactories } from './components.ts';
import { packageInfo } from './package-root.ts';
import { endpointUrl, whereToLook } from './where.ts';

function load(path: string): ReturnType<typeof loadPipelineConfig> {
  return loadPipelineConfig(path, new Registry(builtinFactories), { file: path, env: {} });
}

describe('where to look', () => {
  it('turns endpoints into URLs a local browser opens', () => {
    assert.equal(endpointUrl('127.0.0.1:9465', '/'), 'http://127.0.0.1:9465/');
    assert.equal(endpointUrl(':9464', '/metrics'), 'http://127.0.0.1:9464/metrics');
    assert.equal(endpointUrl('0.0.0.0:9464', '/metrics'), 'http://127.0.0.1:9464/metrics');
    assert.equal(endpointUrl('[::]:9465', '/'), 'http://127.0.0.1:9465/');
    assert.equal(endpointUrl('[::1]:9465', '/'), 'http://[::1]:9465/');
    assert.equal(endpointUrl('node.local:9465', '/'), 'http://node.local:9465/');
    assert.equal(endpointUrl('127.0.0.1:0', '/'), undefined, 'an ephemeral port is not known before start');
  });

  it('lists the page and the metrics of the built-in pipeline.yaml', () => {
    const config = load(join(packageInfo().root, 'pipeline.yaml'));
    assert.deepEqual(whereToLook(config), [
      '  service map  http://127.0.0.1:9465/   (servicemap)',
      '  metrics      http://127.0.0.1:9464/metrics   (prometheus)',
    ]);
  });

  it('lists only exporters a pipeline uses', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lhp-where-'));
    const file = join(dir, 'pipeline.yaml');
    writeFileSync(
      file,
      [
        'receivers: { ebpf_socket: {} }',
        'processors: { k8s_attributes: { mode: host } }',
        'exporters:',
        '  servicemap/unused: { endpoint: "127.0.0.1:19465" }',
        '  prometheus: { endpoint: ":19464" }',
        '  debug: {}',
        'service:',
        '  pipelines:',
        '    links: { receivers: [ebpf_socket], processors: [k8s_attributes], exporters: [debug, prometheus] }',
      ].join('\n'),
    );
    assert.deepEqual(whereToLook(load(file)), [
      '  metrics      http://127.0.0.1:19464/metrics   (prometheus)',
    ]);
  });
});
