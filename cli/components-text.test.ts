import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProcessorFactory, ReceiverFactory } from '../core/component.ts';
import { debugExporterFactory } from '../exporters/debug/debug.ts';
import { formatComponents } from './components-text.ts';

const receiver: ReceiverFactory = {
  kind: 'receiver',
  type: 'sample',
  stability: 'beta',
  description: 'A sample receiver',
  output: 'sockets',
  configSchema: {
    type: 'object',
    description: 'sample',
    required: ['endpoint'],
    fields: {
      endpoint: {
        type: 'string',
        description: 'where to listen',
        pattern: /\S+:\d+/,
        patternName: 'host:port',
      },
      every: { type: 'duration', description: 'poll period', default: '5s' },
      limit: { type: 'integer', description: 'at most', min: 1, max: 10, default: 4 },
      name: { type: 'string', description: 'a label', default: '' },
      tags: {
        type: 'list',
        description: 'tags',
        items: { type: 'string', description: 'tag' },
        default: ['a'],
      },
      tls: {
        type: 'object',
        description: 'transport security',
        fields: { insecure: { type: 'boolean', description: 'plaintext', default: false } },
      },
    },
  },
  create: () => ({ start: async () => {}, shutdown: async () => {} }),
};

const processor: ProcessorFactory = {
  kind: 'processor',
  type: 'bare',
  stability: 'development',
  description: 'No settings at all',
  input: 'sockets',
  output: 'links',
  configSchema: { type: 'object', description: 'none', fields: {} },
  create: () => ({ start: async () => {}, shutdown: async () => {}, consume: async () => {} }),
};

test('formatComponents lists kinds, signals, stability and every setting with its default', () => {
  assert.equal(
    formatComponents([receiver, processor, debugExporterFactory]),
    `receivers:
  sample  (beta, -> sockets)
    A sample receiver
      key           type             default  description
      endpoint      string           -        where to listen (format: host:port) (required)
      every         duration         5s       poll period
      limit         integer [1..10]  4        at most
      name          string           ""       a label
      tags          list of string   ["a"]    tags
      tls           object           -        transport security
      tls.insecure  boolean          false    plaintext

processors:
  bare  (development, sockets -> links)
    No settings at all
    no settings

exporters:
  debug  (development, links ->)
    Logs a summary of every batch of links (and each link with verbosity: detailed)
      key        type              default  description
      verbosity  basic | detailed  basic    basic: one line per batch (links, bytes); detailed: also one line per link
`,
  );
});
