import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prometheusLabelName, prometheusNames, prometheusUnit, sanitizeName } from './naming.ts';

void test('the link family of METRICS.md translates to its Prometheus names', () => {
  assert.deepEqual(prometheusNames('loggerhead.link.bytes', 'By', 'counter'), {
    family: 'loggerhead_link_bytes',
    unit: 'bytes',
    sample: 'loggerhead_link_bytes_total',
  });
  assert.deepEqual(prometheusNames('loggerhead.link.connections', '{connection}', 'counter'), {
    family: 'loggerhead_link_connections',
    unit: '',
    sample: 'loggerhead_link_connections_total',
  });
  assert.deepEqual(prometheusNames('loggerhead.link.active_connections', '{connection}', 'gauge'), {
    family: 'loggerhead_link_active_connections',
    unit: '',
    sample: 'loggerhead_link_active_connections',
  });
  assert.equal(
    prometheusNames('loggerhead.link.retransmits', '{segment}', 'counter').sample,
    'loggerhead_link_retransmits_total',
  );
});

void test('self-telemetry names: units become suffixes once, _total is not doubled', () => {
  assert.equal(
    prometheusNames('loggerhead.receiver.polls', '1', 'counter').sample,
    'loggerhead_receiver_polls_total',
  );
  assert.equal(
    prometheusNames('loggerhead.receiver.poll.duration', 's', 'histogram').family,
    'loggerhead_receiver_poll_duration_seconds',
  );
  assert.equal(prometheusNames('loggerhead.map.bytes', 'By', 'gauge').family, 'loggerhead_map_bytes');
  assert.equal(prometheusNames('loggerhead.sent_total', '1', 'counter').sample, 'loggerhead_sent_total');
  assert.equal(prometheusNames('loggerhead.x', 'ms', 'gauge').family, 'loggerhead_x_milliseconds');
});

void test('units: UCUM words, rates, annotations and unknown units', () => {
  assert.equal(prometheusUnit('By'), 'bytes');
  assert.equal(prometheusUnit('By/s'), 'bytes_per_second');
  assert.equal(prometheusUnit('1/s'), 'per_second');
  assert.equal(prometheusUnit('{packet}/s'), 'per_second');
  assert.equal(prometheusUnit('{connection}'), '');
  assert.equal(prometheusUnit('1'), '');
  assert.equal(prometheusUnit('%'), 'percent');
  assert.equal(prometheusUnit('m.s'), 'm_s');
});

void test('names and label names are sanitised', () => {
  assert.equal(sanitizeName('a.b-c__d'), 'a_b_c_d');
  assert.equal(sanitizeName('9lives'), '_9lives');
  assert.equal(prometheusLabelName('component.id'), 'component_id');
  assert.equal(prometheusLabelName('k8s.pod-name/x'), 'k8s_pod_name_x');
  assert.equal(prometheusLabelName('0day'), 'key_0day');
  assert.equal(prometheusLabelName(''), 'key_');
});
