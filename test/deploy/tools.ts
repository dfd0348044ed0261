/**
 * The tools the deploy tests run (installed by scripts/setup.d/50-deploy-tools.sh)
 * and helpers that render the manifests with them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const REPO = join(import.meta.dirname, '..', '..');
export const DEPLOY = join(REPO, 'deploy');
export const KUSTOMIZE_DIR = join(DEPLOY, 'kustomize');
export const CHART_DIR = join(DEPLOY, 'helm', 'loggerhead');

const CACHE = '/var/cache/loggerhead';
const SETUP = 'run scripts/setup.d/50-deploy-tools.sh (or scripts/setup.sh)';

/** The Kubernetes version whose schemas the manifests are validated against (and helm renders for). */
export const KUBERNETES_VERSION = 'v1.34.4';
export const KUBERNETES_SCHEMA_DIR = join(CACHE, 'k8s-schemas', `kubernetes-${KUBERNETES_VERSION}`);
export const PROMETHEUS_OPERATOR_CRD_DIR = join(CACHE, 'k8s-schemas', 'prometheus-operator-v0.85.0');

/** Path of a required file, or an error that says how to get it. */
export function required(path: string, what: string): string {
  if (!existsSync(path)) throw new Error(`${what} not found at ${path}: ${SETUP}`);
  return path;
}

export const helmBin = (): string => required(join(CACHE, 'bin', 'helm'), 'helm');
export const kustomizeBin = (): string => required(join(CACHE, 'bin', 'kustomize'), 'kustomize');

export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> } & Record<string, unknown>;
};

/** Parses a multi-document YAML stream into objects (empty documents dropped). */
export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`bad YAML: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

function run(bin: string, args: string[]): string {
  try {
    return execFileSync(bin, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${bin} ${args.join(' ')} failed: ${err.stderr ?? err.message}`, { cause: e });
  }
}

/** `kustomize build` of a directory under deploy/kustomize. */
export function kustomize(dir: string): K8sObject[] {
  return parseObjects(run(kustomizeBin(), ['build', join(KUSTOMIZE_DIR, dir)]));
}

/**
 * `kustomize build` of a throw-away kustomization made of `resources` and
 * `components` (directories under deploy/kustomize), as a user would write one.
 */
export function kustomizeCombination(resources: string[], components: string[]): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'lhd-kustomize-'));
  try {
    const rel = (d: string): string => relative(dir, join(KUSTOMIZE_DIR, d));
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      JSON.stringify({ resources: resources.map(rel), components: components.map(rel) }),
    );
    return parseObjects(run(kustomizeBin(), ['build', dir]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Helm arguments for one set of values: `--set` pairs and, optionally, a values file's content. */
export interface HelmValues {
  set?: Record<string, string>;
  values?: Record<string, unknown>;
}

function valueArgs(v: HelmValues, dir: string): string[] {
  const args: string[] = [];
  for (const [k, val] of Object.entries(v.set ?? {})) args.push('--set', `${k}=${val}`);
  if (v.values !== undefined) {
    const file = join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(v.values));
    args.push('--values', file);
  }
  return args;
}

/** `helm template` of the chart, release `loggerhead` in namespace `loggerhead` unless told otherwise. */
export function helmTemplate(
  v: HelmValues = {},
  release = 'loggerhead',
  namespace = 'loggerhead',
): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'lhd-helm-'));
  try {
    return parseObjects(
      run(helmBin(), [
        'template',
        release,
        CHART_DIR,
        '--namespace',
        namespace,
        '--kube-version',
        KUBERNETES_VERSION,
        ...valueArgs(v, dir),
      ]),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `helm lint --strict` of the chart with the given values; returns its output. */
export function helmLint(v: HelmValues = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'lhd-helm-'));
  try {
    return run(helmBin(), [
      'lint',
      '--strict',
      CHART_DIR,
      '--kube-version',
      KUBERNETES_VERSION,
      ...valueArgs(v, dir),
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The one object of a kind (and name, when given); throws when absent or ambiguous. */
export function findObject(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${name === undefined ? '' : ` ${name}`}, found ${found.length}`);
  return found[0] as K8sObject;
}
