import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { until, untilValue } from './wait.ts';

describe('until', () => {
  it('resolves once the predicate holds', async () => {
    let calls = 0;
    await until(() => ++calls === 3, 'three calls', 1000, 1);
    assert.equal(calls, 3);
  });

  it('rejects naming what it waited for when the predicate never holds', async () => {
    await assert.rejects(
      until(() => false, 'never', 30, 5),
      { message: 'never: not within 30 ms' },
    );
  });
});

describe('untilValue', () => {
  it('resolves with the first defined value, treating rejections as not yet', async () => {
    let calls = 0;
    const value = await untilValue(
      async () => {
        calls++;
        if (calls === 1) throw new Error('not listening yet');
        return calls === 3 ? 'ready' : undefined;
      },
      'ready',
      1000,
      1,
    );
    assert.equal(value, 'ready');
    assert.equal(calls, 3);
  });

  it('keeps a falsy value other than undefined', async () => {
    assert.equal(await untilValue(async () => 0, 'zero', 100, 1), 0);
  });

  it('rejects naming what it waited for, with the last rejection as cause', async () => {
    let calls = 0;
    const error = await untilValue(
      async () => {
        calls++;
        throw new Error(`refused ${calls}`);
      },
      'an answer',
      20,
      1,
    ).catch((e: unknown) => e as Error);
    assert.equal(error.message, 'an answer: not within 20 ms');
    assert.ok(calls >= 2);
    assert.equal((error.cause as Error).message, `refused ${calls}`);
  });

  it('has no cause when the last attempt gave undefined rather than rejecting', async () => {
    let calls = 0;
    const error: unknown = await untilValue<string>(
      async () => {
        calls++;
        if (calls === 1) throw new Error('refused');
        return undefined;
      },
      'an answer',
      20,
      1,
    ).catch((e: unknown) => e);
    assert.ok(error instanceof Error);
    assert.equal(error.message, 'an answer: not within 20 ms');
    assert.equal(error.cause, undefined);
    assert.ok(calls >= 2);
  });
});
