/**
 * Pod -> top controller through ownerReferences (pod -> ReplicaSet ->
 * Deployment, pod -> Job -> CronJob, pod -> StatefulSet, pod -> DaemonSet, and
 * on through any further controller), pure over a controller lookup.
 *
 * Rules, so that odd data never mis-attributes a pod:
 * - Only `controller: true` references count. None: the pod is its own workload.
 *   Several on the pod, or a malformed one: the pod itself. Several (or a
 *   malformed one) on a controller higher up: the chain stops at that controller.
 * - A reference is followed only when the store holds an object of that UID,
 *   kind, namespace and name (a reference without UID, which the API refuses,
 *   is never followed). Otherwise the
 *   chain stops at the reference: its kind and name are the deepest certain
 *   owner (an owner of a kind not watched, e.g. an Argo `Rollout`, is named as
 *   such; a ReplicaSet not yet listed is named as the ReplicaSet).
 * - A cycle, or a chain deeper than `MAX_OWNER_DEPTH`, has no top: the pod's
 *   direct controller is named.
 */
import type { WorkloadRef } from './metadata.ts';
import type { ControllerLink, OwnerLink } from './objects.ts';

/** How far a pod's workload goes: its top controller, or the pod itself. */
export type OwnerDepth = 'workload' | 'pod';

/** Longest chain of controllers followed above a pod. */
export const MAX_OWNER_DEPTH = 8;

/** What the chain walk needs to know about a controller. */
export interface ControllerNode {
  kind: string;
  name: string;
  namespace: string;
  uid: string;
  controller: ControllerLink;
}

/** Finds a controller by UID. */
export interface ControllerLookup {
  byUid(uid: string): ControllerNode | undefined;
}

function holds(lookup: ControllerLookup, link: OwnerLink, namespace: string): ControllerNode | undefined {
  const node = link.uid !== '' ? lookup.byUid(link.uid) : undefined;
  if (node === undefined) return undefined;
  if (node.kind !== link.kind || node.name !== link.name || node.namespace !== namespace) return undefined;
  return node;
}

/**
 * The workload of a pod in `namespace` whose own controller reference is
 * `controller`. Returns the `kind`/`name` of the top certain owner; the caller
 * builds the `WorkloadRef` (and may share it between pods).
 *
 * @example
 * resolveOwner({ kind: 'ReplicaSet', name: 'web-7d9f', uid: 'u1' }, 'shop', lookup);
 * // { kind: 'Deployment', name: 'web' } once the ReplicaSet and its Deployment are known
 */
export function resolveOwner(
  controller: ControllerLink,
  namespace: string,
  lookup: ControllerLookup,
): { kind: string; name: string } | undefined {
  if (controller === undefined || controller === 'ambiguous') return undefined;
  const direct = controller;
  let link: OwnerLink = direct;
  const seen: string[] = [];
  for (let depth = 0; depth < MAX_OWNER_DEPTH; depth++) {
    const node = holds(lookup, link, namespace);
    if (node === undefined) return { kind: link.kind, name: link.name };
    const key = node.uid;
    if (seen.includes(key)) return { kind: direct.kind, name: direct.name };
    seen.push(key);
    const next = node.controller;
    if (next === undefined || next === 'ambiguous') return { kind: node.kind, name: node.name };
    link = next;
  }
  return { kind: direct.kind, name: direct.name };
}

/** The pod's workload per `depth`, as a fresh `WorkloadRef`. */
export function podWorkload(
  pod: { name: string; namespace: string; controller: ControllerLink },
  depth: OwnerDepth,
  lookup: ControllerLookup,
): WorkloadRef {
  const top = depth === 'pod' ? undefined : resolveOwner(pod.controller, pod.namespace, lookup);
  return top === undefined
    ? { kind: 'Pod', name: pod.name, namespace: pod.namespace }
    : { kind: top.kind, name: top.name, namespace: pod.namespace };
}
