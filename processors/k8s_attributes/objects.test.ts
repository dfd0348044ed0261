import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  controllerInput,
  controllerOf,
  endpointSliceInput,
  MAX_NAME_LENGTH,
  nodeInput,
  podInput,
  serviceInput,
} from './objects.ts';

describe('controllerOf', () => {
  const rs = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', uid: 'u-rs', controller: true };
  it('picks the one controller reference and ignores the rest', () => {
    assert.deepEqual(controllerOf([{ kind: 'ConfigMap', name: 'x', uid: 'u-x' }, rs]), {
      kind: 'ReplicaSet',
      name: 'web-1',
      uid: 'u-rs',
    });
  });
  it('no references, or none with controller: true, means no controller', () => {
    assert.equal(controllerOf(undefined), undefined);
    assert.equal(controllerOf([]), undefined);
    assert.equal(controllerOf([{ ...rs, controller: false }]), undefined);
    assert.equal(controllerOf('not a list'), undefined);
  });
  it('several controllers are ambiguous', () => {
    assert.equal(controllerOf([rs, { ...rs, name: 'web-2', uid: 'u-rs2' }]), 'ambiguous');
  });
  it('a malformed controller reference is ambiguous, never half-followed', () => {
    assert.equal(controllerOf([{ ...rs, name: '' }]), 'ambiguous');
    assert.equal(controllerOf([{ ...rs, name: 'x'.repeat(MAX_NAME_LENGTH + 1) }]), 'ambiguous');
    assert.equal(controllerOf([{ ...rs, kind: 42 }]), 'ambiguous');
    assert.equal(controllerOf([null, 7, { ...rs, uid: { nested: true } }]), 'ambiguous');
  });
  it('a reference without a UID is kept, to be matched by name', () => {
    assert.deepEqual(controllerOf([{ kind: 'Job', name: 'j', controller: true }]), {
      kind: 'Job',
      name: 'j',
      uid: '',
    });
  });
});

describe('podInput', () => {
  const pod = {
    metadata: {
      name: 'web-1-abcde',
      namespace: 'shop',
      uid: 'u-pod',
      creationTimestamp: '2026-01-02T03:04:05Z',
      ownerReferences: [{ kind: 'ReplicaSet', name: 'web-1', uid: 'u-rs', controller: true }],
    },
    spec: { nodeName: 'node-a' },
    status: { phase: 'Running', podIP: '10.1.0.5', podIPs: [{ ip: '10.1.0.5' }, { ip: 'FD00::5' }] },
  };
  it('keeps only what the store needs, IPs normalised', () => {
    assert.deepEqual(podInput(pod), {
      ok: true,
      value: {
        uid: 'u-pod',
        name: 'web-1-abcde',
        namespace: 'shop',
        nodeName: 'node-a',
        hostNetwork: false,
        ips: ['10.1.0.5', 'fd00::5'],
        terminated: false,
        creationMs: Date.parse('2026-01-02T03:04:05Z'),
        controller: { kind: 'ReplicaSet', name: 'web-1', uid: 'u-rs' },
      },
    });
  });
  it('accepts the client model form (Date timestamps)', () => {
    const model = {
      ...pod,
      metadata: { ...pod.metadata, creationTimestamp: new Date('2026-01-02T03:04:05Z') },
    };
    const r = podInput(model);
    assert.ok(r.ok);
    assert.equal(r.value.creationMs, Date.parse('2026-01-02T03:04:05Z'));
  });
  it('Succeeded and Failed pods are terminated; hostNetwork is read', () => {
    for (const phase of ['Succeeded', 'Failed']) {
      const r = podInput({ ...pod, status: { ...pod.status, phase } });
      assert.ok(r.ok && r.value.terminated, phase);
    }
    const r = podInput({ ...pod, spec: { hostNetwork: true } });
    assert.ok(r.ok && r.value.hostNetwork && r.value.nodeName === '');
  });
  it('rejects what cannot be keyed, with the reason', () => {
    assert.deepEqual(podInput(null), { ok: false, reason: 'no metadata' });
    assert.deepEqual(podInput({ metadata: { ...pod.metadata, uid: undefined } }), {
      ok: false,
      reason: 'bad metadata.uid',
    });
    assert.deepEqual(podInput({ metadata: { ...pod.metadata, name: 'n'.repeat(MAX_NAME_LENGTH + 1) } }), {
      ok: false,
      reason: 'bad metadata.name',
    });
    assert.deepEqual(podInput({ metadata: { ...pod.metadata, namespace: ['x'] } }), {
      ok: false,
      reason: 'bad metadata.namespace',
    });
  });
  it('survives garbage in every optional field', () => {
    const r = podInput({
      metadata: { ...pod.metadata, creationTimestamp: 'yesterday', ownerReferences: { a: 1 } },
      spec: 'x',
      status: { podIP: 12, podIPs: [null, { ip: 'not-an-ip' }, { ip: '10.0.0.1' }, { ip: '10.0.0.1' }] },
    });
    assert.deepEqual(r, {
      ok: true,
      value: {
        uid: 'u-pod',
        name: 'web-1-abcde',
        namespace: 'shop',
        nodeName: '',
        hostNetwork: false,
        ips: ['10.0.0.1'],
        terminated: false,
        creationMs: 0,
        controller: undefined,
      },
    });
  });
  it('keeps unicode names as they are', () => {
    const r = podInput({ ...pod, metadata: { ...pod.metadata, name: 'café-☕-😀', namespace: 'ñ' } });
    assert.ok(r.ok);
    assert.equal(r.value.name, 'café-☕-😀');
    assert.equal(r.value.namespace, 'ñ');
  });
});

describe('other kinds', () => {
  it('controllerInput keeps kind, identity and controller', () => {
    const r = controllerInput('ReplicaSet', {
      metadata: {
        name: 'web-1',
        namespace: 'shop',
        uid: 'u-rs',
        ownerReferences: [{ kind: 'Deployment', name: 'web', uid: 'u-d', controller: true }],
      },
      spec: { replicas: 3 },
    });
    assert.deepEqual(r, {
      ok: true,
      value: {
        kind: 'ReplicaSet',
        uid: 'u-rs',
        name: 'web-1',
        namespace: 'shop',
        controller: { kind: 'Deployment', name: 'web', uid: 'u-d' },
      },
    });
  });
  it('serviceInput: ClusterIPs, none for headless', () => {
    const svc = (spec: unknown) => serviceInput({ metadata: { name: 's', namespace: 'n', uid: 'u' }, spec });
    const a = svc({ clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00::a'] });
    assert.ok(a.ok);
    assert.deepEqual(a.value.clusterIPs, ['10.96.0.10', 'fd00::a']);
    const b = svc({ clusterIP: 'None', clusterIPs: ['None'] });
    assert.ok(b.ok);
    assert.deepEqual(b.value.clusterIPs, []);
    const c = svc({ type: 'ExternalName', externalName: 'example.org' });
    assert.ok(c.ok);
    assert.deepEqual(c.value.clusterIPs, []);
  });
  it('endpointSliceInput: ready endpoints only (unset ready means ready), pods by UID, others by address', () => {
    const r = endpointSliceInput({
      metadata: { name: 's-abc', namespace: 'n', uid: 'u-es', labels: { 'kubernetes.io/service-name': 's' } },
      endpoints: [
        {
          addresses: ['10.0.0.1'],
          conditions: { ready: true },
          targetRef: { kind: 'Pod', name: 'p1', uid: 'u-p1' },
        },
        { addresses: ['10.0.0.2'], conditions: {}, targetRef: { kind: 'Pod', name: 'p2', uid: 'u-p2' } },
        {
          addresses: ['10.0.0.3'],
          conditions: { ready: false },
          targetRef: { kind: 'Pod', name: 'p3', uid: 'u-p3' },
        },
        { addresses: ['192.0.2.7'] },
        'garbage',
      ],
    });
    assert.deepEqual(r, {
      ok: true,
      value: {
        uid: 'u-es',
        namespace: 'n',
        serviceName: 's',
        readyPodUids: ['u-p1', 'u-p2'],
        readyOtherIps: ['192.0.2.7'],
      },
    });
  });
  it('nodeInput: InternalIP and ExternalIP only, no namespace needed', () => {
    const r = nodeInput({
      metadata: { name: 'node-a', uid: 'u-n' },
      status: {
        addresses: [
          { type: 'Hostname', address: 'node-a' },
          { type: 'InternalIP', address: '10.0.0.10' },
          { type: 'ExternalIP', address: '203.0.113.10' },
          { type: 'InternalDNS', address: 'node-a.internal' },
        ],
      },
    });
    assert.deepEqual(r, {
      ok: true,
      value: { uid: 'u-n', name: 'node-a', addresses: ['10.0.0.10', '203.0.113.10'], creationMs: 0 },
    });
  });
});
