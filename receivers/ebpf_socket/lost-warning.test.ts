import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testSettings } from '../../test/support/settings.ts';
import { LOST_WARNING_INTERVAL_MS, LostSocketsWarning } from './lost-warning.ts';

function warnings(): {
  warning: LostSocketsWarning;
  lines: () => Array<Record<string, unknown>>;
  advance: (ms: number) => void;
} {
  const settings = testSettings('ebpf_socket');
  let nowMs = 1_000_000;
  const warning = new LostSocketsWarning(settings.logger, LOST_WARNING_INTERVAL_MS, () => nowMs);
  return {
    warning,
    lines: () => settings.logs.filter((l) => l.level === 'warn'),
    advance: (ms) => {
      nowMs += ms;
    },
  };
}

describe('reclaimed_lost warning', () => {
  it('says nothing for polls that lost nothing', () => {
    const w = warnings();
    for (let i = 0; i < 5; i++) {
      w.warning.note(0);
      w.advance(LOST_WARNING_INTERVAL_MS);
    }
    assert.deepEqual(w.lines(), []);
  });

  it('warns at the first poll that lost sockets, with their count', () => {
    const w = warnings();
    w.warning.note(0);
    w.warning.note(3);
    const lines = w.lines();
    assert.equal(lines.length, 1);
    assert.match(String(lines[0]!.msg), /bytes since the previous poll are lost/);
    assert.equal(lines[0]!.sockets, 3);
    assert.equal(lines[0]!.polls, 1);
    assert.match(String(lines[0]!.note), /event="reclaimed_lost"/);
  });

  it('warns at most once per interval and sums the polls in between into the next warning', () => {
    const w = warnings();
    w.warning.note(2);
    w.advance(2000);
    w.warning.note(5);
    w.advance(2000);
    w.warning.note(0);
    w.advance(2000);
    w.warning.note(1);
    assert.equal(w.lines().length, 1, 'one warning within the interval');
    w.advance(LOST_WARNING_INTERVAL_MS - 6000 - 1);
    w.warning.note(0);
    assert.equal(w.lines().length, 1, 'still within the interval');
    w.advance(1);
    w.warning.note(0);
    const lines = w.lines();
    assert.equal(lines.length, 2, 'the first poll after the interval writes what was held back');
    assert.equal(lines[1]!.sockets, 6);
    assert.equal(lines[1]!.polls, 2);
    w.advance(LOST_WARNING_INTERVAL_MS);
    w.warning.note(0);
    assert.equal(w.lines().length, 2, 'nothing left to say');
    w.warning.note(4);
    assert.equal(w.lines().length, 3);
    assert.equal(w.lines()[2]!.sockets, 4);
  });
});
