/** Finds network namespaces: every one on the node, or the ones a config names. */
import fs from 'node:fs';
import path from 'node:path';

export interface NetnsRef {
  inode: number;
  /** A path that opens it, for setns(). */
  path: string;
}

const NAMED_DIRS = ['/run/netns', '/var/run/netns'];

function inodeOf(p: string): number | undefined {
  try {
    return fs.statSync(p).ino;
  } catch {
    return undefined;
  }
}

/**
 * Every network namespace reachable from a process (`/proc/PID/ns/net`) or a
 * name (`/run/netns/NAME`), one path each.
 */
export function listNamespaces(procRoot = '/proc'): NetnsRef[] {
  const found = new Map<number, string>();
  const add = (p: string): void => {
    const inode = inodeOf(p);
    if (inode !== undefined && !found.has(inode)) found.set(inode, p);
  };
  add(path.join(procRoot, 'self/ns/net'));
  for (const dir of NAMED_DIRS) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) add(path.join(dir, name));
  }
  for (const entry of fs.readdirSync(procRoot)) {
    if (/^\d+$/.test(entry)) add(path.join(procRoot, entry, 'ns/net'));
  }
  return [...found].map(([inode, p]) => ({ inode, path: p }));
}

/**
 * Resolves config entries (paths, or inode numbers as text) to namespaces.
 * Throws naming the entries that match no namespace.
 */
export function resolveNamespaces(entries: readonly string[], procRoot = '/proc'): NetnsRef[] {
  const all = entries.some((e) => /^\d+$/.test(e)) ? listNamespaces(procRoot) : [];
  const out = new Map<number, NetnsRef>();
  const unknown: string[] = [];
  for (const entry of entries) {
    if (/^\d+$/.test(entry)) {
      const ref = all.find((n) => n.inode === Number(entry));
      if (ref === undefined) unknown.push(`${entry} (no process or /run/netns name is in it)`);
      else out.set(ref.inode, ref);
      continue;
    }
    const inode = inodeOf(entry);
    if (inode === undefined) unknown.push(`${entry} (cannot stat it)`);
    else out.set(inode, { inode, path: entry });
  }
  if (unknown.length > 0) {
    throw new Error(`network_namespaces: no such network namespace: ${unknown.join(', ')}`);
  }
  return [...out.values()];
}
