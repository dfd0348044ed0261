import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { listNamespaces, resolveNamespaces } from './namespaces.ts';

describe('network namespaces', () => {
  const own = fs.statSync('/proc/self/ns/net').ino;

  it('lists this process namespace first, each namespace once', () => {
    const all = listNamespaces();
    assert.equal(all[0]?.inode, own);
    assert.equal(new Set(all.map((n) => n.inode)).size, all.length);
  });

  it('resolves paths and inode numbers', () => {
    assert.deepEqual(resolveNamespaces(['/proc/self/ns/net']), [{ inode: own, path: '/proc/self/ns/net' }]);
    assert.equal(resolveNamespaces([String(own)])[0]?.inode, own);
  });

  it('names entries that match no namespace', () => {
    assert.throws(
      () => resolveNamespaces(['/run/netns/lhr-does-not-exist', '1']),
      /network_namespaces: no such network namespace: \/run\/netns\/lhr-does-not-exist \(cannot stat it\), 1 \(no process or \/run\/netns name is in it\)/,
    );
  });
});
