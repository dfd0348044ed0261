/**
 * Where a Kubernetes cluster is looked for, worked out without the Kubernetes
 * client (which takes about 85 MB of memory once imported, measured on Node
 * 24): mode auto decides from it whether host mode is certain, and cluster
 * detection whom to ask.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export type ClusterSource =
  /** In a pod: the API server the service environment names. */
  | { kind: 'in-cluster'; server: string }
  /** A kubeconfig file, which may not exist. */
  | { kind: 'kubeconfig'; path: string };

/**
 * The cluster source in lookup order: in a pod (`KUBERNETES_SERVICE_HOST`)
 * unless a kubeconfig is given, else the given kubeconfig, else the first file
 * of `KUBECONFIG`, else `~/.kube/config`.
 *
 * @example
 * clusterSource(undefined, { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' });
 * // { kind: 'in-cluster', server: 'https://10.96.0.1:443' }
 */
export function clusterSource(kubeconfig: string | undefined, env: NodeJS.ProcessEnv): ClusterSource {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (kubeconfig === undefined && host !== undefined && host !== '') {
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    return { kind: 'in-cluster', server: `https://${host.includes(':') ? `[${host}]` : host}:${port}` };
  }
  const fromEnv =
    env.KUBECONFIG !== undefined && env.KUBECONFIG !== '' ? env.KUBECONFIG.split(':')[0] : undefined;
  return {
    kind: 'kubeconfig',
    path: kubeconfig ?? fromEnv ?? join(env.HOME ?? homedir(), '.kube', 'config'),
  };
}
