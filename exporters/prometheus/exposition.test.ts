import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeLabelValue, formatBound, formatValue, negotiateFormat } from './exposition.ts';

void test('content negotiation on Accept', () => {
  // What Prometheus 2.42 sends.
  assert.equal(
    negotiateFormat(
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
    ),
    'openmetrics',
  );
  assert.equal(
    negotiateFormat('application/openmetrics-text; version="1.0.0"; charset=utf-8'),
    'openmetrics',
  );
  assert.equal(negotiateFormat('application/openmetrics-text'), 'openmetrics');
  assert.equal(negotiateFormat('text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5'), 'text');
  assert.equal(
    negotiateFormat('application/openmetrics-text;version=0.0.1'),
    'text',
    'only OpenMetrics 1.0.0 is served',
  );
  assert.equal(negotiateFormat('application/openmetrics-text;q=0'), 'text');
  assert.equal(negotiateFormat('*/*'), 'text');
  assert.equal(negotiateFormat(''), 'text');
  assert.equal(negotiateFormat(undefined), 'text');
});

void test('label value escaping', () => {
  assert.equal(escapeLabelValue('plain'), 'plain');
  assert.equal(escapeLabelValue('a\\b'), 'a\\\\b');
  assert.equal(escapeLabelValue('say "hi"'), 'say \\"hi\\"');
  assert.equal(escapeLabelValue('two\nlines'), 'two\\nlines');
  assert.equal(
    escapeLabelValue('\\n'),
    '\\\\n',
    'a literal backslash-n stays distinguishable from a newline',
  );
  assert.equal(escapeLabelValue('tab\there ünïcode 🐢'), 'tab\there ünïcode 🐢');
});

void test('values and bounds', () => {
  assert.equal(formatValue(0), '0');
  assert.equal(formatValue(123456789012), '123456789012');
  assert.equal(formatValue(0.25), '0.25');
  assert.equal(formatValue(1.5e-7), '1.5e-7');
  assert.equal(formatValue(NaN), 'NaN');
  assert.equal(formatValue(Infinity), '+Inf');
  assert.equal(formatValue(-Infinity), '-Inf');
  assert.equal(formatBound(1, 'text'), '1');
  assert.equal(formatBound(1, 'openmetrics'), '1.0');
  assert.equal(formatBound(0.005, 'openmetrics'), '0.005');
});
