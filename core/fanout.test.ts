import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Sink } from '../test/support/sink.ts';
import { fanout } from './fanout.ts';
import type { Consumer } from './signals.ts';

const failing = (message: string): Consumer<number> => ({
  consume: async () => {
    throw new Error(message);
  },
});

test('fanout hands every batch to every consumer', async () => {
  const a = new Sink<number>();
  const b = new Sink<number>();
  const both = fanout([a, b]);
  await both.consume(1);
  await both.consume(2);
  assert.deepEqual(a.batches, [1, 2]);
  assert.deepEqual(b.batches, [1, 2]);
});

test('fanout of one consumer is that consumer', () => {
  const a = new Sink<number>();
  assert.equal(fanout([a]), a);
});

test('a failing consumer does not keep the batch from the others, and its error surfaces', async () => {
  const a = new Sink<number>();
  await assert.rejects(fanout([failing('disk full'), a]).consume(7), { message: 'disk full' });
  assert.deepEqual(a.batches, [7]);
  const sync: Consumer<number> = {
    consume: () => {
      throw new Error('thrown synchronously');
    },
  };
  const b = new Sink<number>();
  await assert.rejects(fanout([sync, b]).consume(8), { message: 'thrown synchronously' });
  assert.deepEqual(b.batches, [8]);
});

test('several failures are aggregated, each named', async () => {
  await assert.rejects(
    fanout([failing('one'), new Sink<number>(), failing('two')]).consume(1),
    (error: unknown) => {
      assert.ok(error instanceof AggregateError);
      assert.equal(error.message, '2 of 3 consumers failed: one; two');
      assert.equal(error.errors.length, 2);
      return true;
    },
  );
});
