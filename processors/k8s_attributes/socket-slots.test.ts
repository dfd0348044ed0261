import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../test/support/random.ts';
import { CookieIndex, RELEASED, SERVER, SocketSlots } from './socket-slots.ts';

describe('SocketSlots', () => {
  it('finds sockets by cookie; a new slot has every column zero', () => {
    const slots = new SocketSlots();
    const a = slots.add(2 ** 40);
    slots.tx[a] = 5;
    slots.retrans[a] = 7;
    slots.answerVersion[a] = 3;
    assert.equal(slots.find(2 ** 40), a);
    assert.equal(slots.find(7), -1);
    assert.equal(slots.size, 1);
    slots.remove(2 ** 40, a);
    slots.endBatch();
    const b = slots.add(8);
    assert.equal(b, a, 'the freed slot is reused');
    assert.deepEqual(
      [slots.tx[b], slots.retrans[b], slots.answerVersion[b], slots.key[b], slots.link[b], slots.flags[b]],
      [0, 0, Number.NaN, -1, -1, 0],
    );
  });

  it('keeps a released slot readable, and not handed out again, until the batch ends', () => {
    const slots = new SocketSlots();
    const a = slots.add(1);
    slots.flags[a] = SERVER;
    slots.rx[a] = 42;
    slots.remove(1, a);
    assert.equal(slots.find(1), -1);
    assert.equal(slots.flags[a], SERVER | RELEASED);
    const b = slots.add(1);
    assert.notEqual(b, a);
    assert.equal(slots.rx[a], 42);
    slots.endBatch();
    assert.equal(slots.add(2), a);
  });

  it('grows as sockets come, and moves them to the first slots when few are left', () => {
    const slots = new SocketSlots();
    for (let cookie = 1; cookie <= 10_000; cookie++) {
      const s = slots.add(cookie);
      slots.tx[s] = cookie * 10;
      slots.openedAtMs[s] = cookie + 0.5;
      slots.retrans[s] = cookie + 2;
      slots.answerVersion[s] = cookie;
      slots.answerPid[s] = cookie + 1;
    }
    const grown = slots.capacity;
    assert.ok(grown >= 10_000 && grown < 15_000, `capacity ${grown}`);
    for (let cookie = 1; cookie <= 10_000; cookie++)
      if (cookie % 10 !== 0) slots.remove(cookie, slots.find(cookie));
    slots.endBatch();
    assert.equal(slots.size, 1000);
    assert.equal(slots.capacity, 2000);
    const seen = new Set<number>();
    for (const [cookie, s] of slots.entries()) {
      assert.ok(s < 1000, `slot ${s}`);
      seen.add(s);
      assert.deepEqual(
        [
          slots.cookie[s],
          slots.tx[s],
          slots.openedAtMs[s],
          slots.retrans[s],
          slots.answerVersion[s],
          slots.answerPid[s],
        ],
        [cookie, cookie * 10, cookie + 0.5, cookie + 2, cookie, cookie + 1],
      );
    }
    assert.equal(seen.size, 1000);
    assert.equal(slots.add(20_000), 1000, 'new sockets after the ones kept');
  });

  it('hands out every slot freed in a batch, however many, before growing', () => {
    const slots = new SocketSlots();
    const all = Array.from({ length: 3000 }, (_, i) => slots.add(i + 1));
    const capacity = slots.capacity;
    const freed = all.filter((_, i) => i % 6 === 0);
    for (const s of freed) slots.remove(slots.cookie[s]!, s);
    slots.endBatch();
    assert.equal(slots.capacity, capacity, 'not compacted: most slots still in use');
    const reused = freed.map((_, i) => slots.add(10_000 + i));
    assert.deepEqual(
      [...reused].sort((a, b) => a - b),
      [...freed].sort((a, b) => a - b),
    );
    assert.equal(slots.capacity, capacity);
  });
});

describe('SocketSlots columns', () => {
  it('every column keeps its sockets through growing and compaction', () => {
    const slots = new SocketSlots();
    /** Every typed array of the slots, by field name: a column added later is covered too. */
    const columns = (): Array<[string, Float64Array | Uint32Array | Int32Array | Uint8Array]> =>
      Object.entries(slots).filter(
        (e): e is [string, Float64Array | Uint32Array | Int32Array | Uint8Array] =>
          ArrayBuffer.isView(e[1]) && e[0] !== 'free',
      );
    assert.ok(
      columns().length >= 12,
      columns()
        .map(([name]) => name)
        .join(),
    );
    const valueOf = (name: string, cookie: number): number => (cookie * 7 + name.length) % 200;
    const write = (cookie: number, s: number): void => {
      for (const [name, column] of columns()) if (name !== 'cookie') column[s] = valueOf(name, cookie);
    };
    for (let cookie = 1; cookie <= 5000; cookie++) write(cookie, slots.add(cookie));
    for (let cookie = 1; cookie <= 5000; cookie++)
      if (cookie % 8 !== 0) slots.remove(cookie, slots.find(cookie));
    slots.endBatch();
    assert.ok(slots.capacity < 5000, `compacted to ${slots.capacity}`);
    for (let cookie = 5001; cookie <= 9000; cookie += 8) write(cookie, slots.add(cookie));
    for (const [cookie, s] of slots.entries()) {
      for (const [name, column] of columns()) {
        assert.equal(column[s], name === 'cookie' ? cookie : valueOf(name, cookie), `${name} of ${cookie}`);
      }
    }
  });
});

describe('SocketSlots.findFrom', () => {
  it('takes the hint only when its slot holds the cookie, else finds it', () => {
    const slots = new SocketSlots();
    const a = slots.add(100);
    const b = slots.add(200);
    assert.equal(slots.findFrom(a, 100), a);
    assert.equal(slots.findFrom(b, 100), a, 'a hint to another socket');
    assert.equal(slots.findFrom(-1, 200), b);
    assert.equal(slots.findFrom(1e9, 200), b, 'a hint past the slots');
    assert.equal(slots.findFrom(a, 300), -1);
    slots.remove(100, a);
    slots.endBatch();
    assert.equal(slots.findFrom(a, 100), -1, 'a freed slot is no hint, even for its old cookie');
    const c = slots.add(300);
    assert.equal(c, a);
    assert.equal(slots.findFrom(a, 300), c);
  });

  it('follows the sockets when they move to the first slots', () => {
    const slots = new SocketSlots();
    const cookies = Array.from({ length: 5000 }, (_, i) => 1000 + i);
    const before = cookies.map((c) => slots.add(c));
    for (const [i, c] of cookies.entries()) if (i % 10 !== 0) slots.remove(c, before[i]!);
    slots.endBatch();
    for (const [i, c] of cookies.entries()) {
      const want = i % 10 === 0 ? slots.find(c) : -1;
      assert.equal(slots.findFrom(before[i]!, c), want, `cookie ${c}`);
    }
  });
});

describe('SocketSlots.reserve', () => {
  it('grows once for a batch of new sockets, counting the free slots', () => {
    const slots = new SocketSlots();
    for (let cookie = 1; cookie <= 100; cookie++) slots.add(cookie);
    for (let cookie = 1; cookie <= 40; cookie++) slots.remove(cookie, slots.find(cookie));
    slots.endBatch();
    slots.reserve(5040);
    const capacity = slots.capacity;
    assert.equal(capacity, 5100, '100 slots handed out, 40 of them free again, 5040 more');
    for (let cookie = 1000; cookie < 6040; cookie++) slots.add(cookie);
    assert.equal(slots.capacity, capacity, 'no growth while adding');
    assert.equal(slots.size, 5100);
  });
});

describe('CookieIndex', () => {
  it('agrees with a Map through random sets and deletes, growing and shrinking', () => {
    const random = seededRandom(12345);
    const rand = (n: number): number => Math.floor(random() * n);
    const index = new CookieIndex();
    const model = new Map<number, number>();
    // Cookies in a few dense runs, some above 2^32 (boxed in a Map): collisions and wrap-around.
    const cookieAt = (n: number): number => (n % 3 === 0 ? 2 ** 40 + n : n % 3 === 1 ? n * 1024 : n);
    let peak = 0;
    for (let step = 0; step < 200_000; step++) {
      const cookie = cookieAt(rand(step < 100_000 ? 60_000 : 3000));
      if (rand(3) === 0) {
        index.delete(cookie);
        model.delete(cookie);
      } else {
        index.set(cookie, step);
        model.set(cookie, step);
      }
      if (step % 997 === 0) {
        for (const [c, slot] of model) assert.equal(index.get(c), slot);
        assert.equal(index.get(2 ** 50 + step), -1);
      }
      peak = Math.max(peak, index.capacity);
      assert.equal(index.size, model.size);
    }
    for (const [c, slot] of model) assert.equal(index.get(c), slot);
    assert.ok(peak >= 65536, `grew to ${peak}`);
    assert.ok(index.size * 8 <= index.capacity * 7);
    const left = [...model.keys()];
    for (const [i, c] of left.entries()) {
      index.delete(c);
      if (i % 500 === 0) for (const d of left.slice(i + 1, i + 50)) assert.equal(index.get(d), model.get(d));
    }
    assert.equal(index.size, 0);
    assert.equal(index.capacity, 1024, 'back to the least');
  });
});
