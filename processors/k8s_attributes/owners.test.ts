import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ControllerLink } from './objects.ts';
import type { ControllerLookup, ControllerNode } from './owners.ts';
import { MAX_OWNER_DEPTH, podWorkload, resolveOwner } from './owners.ts';

function lookupOf(nodes: ControllerNode[]): ControllerLookup {
  return {
    byUid: (uid) => nodes.find((n) => n.uid === uid),
  };
}

function node(
  kind: string,
  name: string,
  uid: string,
  controller?: ControllerLink,
  namespace = 'shop',
): ControllerNode {
  return { kind, name, uid, namespace, controller };
}

const link = (kind: string, name: string, uid: string) => ({ kind, name, uid });

describe('resolveOwner', () => {
  const deploy = node('Deployment', 'web', 'u-d');
  const rs = node('ReplicaSet', 'web-7d9f', 'u-rs', link('Deployment', 'web', 'u-d'));
  const cron = node('CronJob', 'report', 'u-cj');
  const job = node('Job', 'report-290', 'u-j', link('CronJob', 'report', 'u-cj'));
  const sts = node('StatefulSet', 'db', 'u-sts');
  const ds = node('DaemonSet', 'agent', 'u-ds');
  const all = lookupOf([deploy, rs, cron, job, sts, ds]);

  const cases: Array<{
    name: string;
    controller: ControllerLink;
    lookup?: ControllerLookup;
    expected: string;
  }> = [
    {
      name: 'pod -> ReplicaSet -> Deployment',
      controller: link('ReplicaSet', 'web-7d9f', 'u-rs'),
      expected: 'Deployment/web',
    },
    {
      name: 'pod -> Job -> CronJob',
      controller: link('Job', 'report-290', 'u-j'),
      expected: 'CronJob/report',
    },
    {
      name: 'pod -> StatefulSet',
      controller: link('StatefulSet', 'db', 'u-sts'),
      expected: 'StatefulSet/db',
    },
    { name: 'pod -> DaemonSet', controller: link('DaemonSet', 'agent', 'u-ds'), expected: 'DaemonSet/agent' },
    {
      name: 'a bare Job (no CronJob)',
      controller: link('Job', 'j', 'u-j2'),
      lookup: lookupOf([node('Job', 'j', 'u-j2')]),
      expected: 'Job/j',
    },
    { name: 'no controller', controller: undefined, expected: '' },
    { name: 'ambiguous controller', controller: 'ambiguous', expected: '' },
    {
      name: 'ReplicaSet not (yet) known: the ReplicaSet, never a guessed Deployment',
      controller: link('ReplicaSet', 'web-other', 'u-missing'),
      expected: 'ReplicaSet/web-other',
    },
    {
      name: 'a Deployment not (or no longer) listed is named from the ReplicaSet reference to it',
      controller: link('ReplicaSet', 'orphan-1', 'u-o'),
      lookup: lookupOf([node('ReplicaSet', 'orphan-1', 'u-o', link('Deployment', 'gone', 'u-gone'))]),
      expected: 'Deployment/gone',
    },
    {
      name: 'owner of a kind not watched (Argo Rollout) is named as such',
      controller: link('ReplicaSet', 'canary-1', 'u-c'),
      lookup: lookupOf([node('ReplicaSet', 'canary-1', 'u-c', link('Rollout', 'canary', 'u-ro'))]),
      expected: 'Rollout/canary',
    },
    {
      name: 'UID mismatch (a recreated ReplicaSet of the same name) is not followed',
      controller: link('ReplicaSet', 'web-7d9f', 'u-old'),
      lookup: lookupOf([node('ReplicaSet', 'web-7d9f', 'u-new', link('Deployment', 'other', 'u-x'))]),
      expected: 'ReplicaSet/web-7d9f',
    },
    {
      name: 'kind mismatch on the same UID is not followed',
      controller: link('ReplicaSet', 'web-7d9f', 'u-d'),
      expected: 'ReplicaSet/web-7d9f',
    },
    {
      name: 'name mismatch on the same UID is not followed',
      controller: link('ReplicaSet', 'impostor', 'u-rs'),
      expected: 'ReplicaSet/impostor',
    },
    {
      name: 'an owner in another namespace is not followed',
      controller: link('ReplicaSet', 'x-1', 'u-x1'),
      lookup: lookupOf([node('ReplicaSet', 'x-1', 'u-x1', link('Deployment', 'x', 'u-xd'), 'other')]),
      expected: 'ReplicaSet/x-1',
    },
    {
      name: 'a reference without UID (refused by the API) is named as given, not followed',
      controller: link('ReplicaSet', 'web-7d9f', ''),
      expected: 'ReplicaSet/web-7d9f',
    },
    {
      name: 'ambiguous controllers higher up stop the chain there',
      controller: link('ReplicaSet', 'r', 'u-r'),
      lookup: lookupOf([node('ReplicaSet', 'r', 'u-r', 'ambiguous')]),
      expected: 'ReplicaSet/r',
    },
    {
      name: 'a cycle names the direct controller',
      controller: link('ReplicaSet', 'a', 'u-a'),
      lookup: lookupOf([
        node('ReplicaSet', 'a', 'u-a', link('Deployment', 'b', 'u-b')),
        node('Deployment', 'b', 'u-b', link('ReplicaSet', 'a', 'u-a')),
      ]),
      expected: 'ReplicaSet/a',
    },
    {
      name: 'a self-owning controller names itself',
      controller: link('Job', 'self', 'u-s'),
      lookup: lookupOf([node('Job', 'self', 'u-s', link('Job', 'self', 'u-s'))]),
      expected: 'Job/self',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const top = resolveOwner(c.controller, 'shop', c.lookup ?? all);
      assert.equal(top === undefined ? '' : `${top.kind}/${top.name}`, c.expected);
    });
  }

  it(`a chain deeper than ${MAX_OWNER_DEPTH} names the direct controller`, () => {
    const chain: ControllerNode[] = [];
    for (let i = 0; i <= MAX_OWNER_DEPTH + 2; i++) {
      chain.push(node('Job', `j${i}`, `u${i}`, link('Job', `j${i + 1}`, `u${i + 1}`)));
    }
    const top = resolveOwner(link('Job', 'j0', 'u0'), 'shop', lookupOf(chain));
    assert.deepEqual(top, { kind: 'Job', name: 'j0' });
  });

  it('a chain exactly at the limit resolves to its top', () => {
    const chain: ControllerNode[] = [];
    for (let i = 0; i < MAX_OWNER_DEPTH; i++) {
      chain.push(
        node(
          'Job',
          `j${i}`,
          `u${i}`,
          i + 1 < MAX_OWNER_DEPTH ? link('Job', `j${i + 1}`, `u${i + 1}`) : undefined,
        ),
      );
    }
    assert.deepEqual(resolveOwner(link('Job', 'j0', 'u0'), 'shop', lookupOf(chain)), {
      kind: 'Job',
      name: `j${MAX_OWNER_DEPTH - 1}`,
    });
  });
});

describe('podWorkload', () => {
  const lookup = lookupOf([
    node('Deployment', 'web', 'u-d'),
    node('ReplicaSet', 'web-1', 'u-rs', link('Deployment', 'web', 'u-d')),
  ]);
  const pod = { name: 'web-1-abcde', namespace: 'shop', controller: link('ReplicaSet', 'web-1', 'u-rs') };
  it('owner_depth workload: the top controller', () => {
    assert.deepEqual(podWorkload(pod, 'workload', lookup), {
      kind: 'Deployment',
      name: 'web',
      namespace: 'shop',
    });
  });
  it('owner_depth pod: the pod itself', () => {
    assert.deepEqual(podWorkload(pod, 'pod', lookup), {
      kind: 'Pod',
      name: 'web-1-abcde',
      namespace: 'shop',
    });
  });
  it('a pod without controller is its own workload', () => {
    assert.deepEqual(podWorkload({ ...pod, controller: undefined }, 'workload', lookup), {
      kind: 'Pod',
      name: 'web-1-abcde',
      namespace: 'shop',
    });
  });
});
