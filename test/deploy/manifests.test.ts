/**
 * Renders every shipped variant of the manifests with the real kustomize and
 * helm, validates each object against the Kubernetes v1.34 OpenAPI schemas
 * (and the prometheus-operator CRDs), checks least privilege, and checks that
 * Helm and kustomize produce the same objects for the same settings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DASHBOARDS, DASHBOARD_DIRS, dashboardText } from '../../deploy/dashboards/dashboards.ts';
import { SchemaSet } from './openapi.ts';
import type { HelmValues, K8sObject } from './tools.ts';
import {
  KUBERNETES_SCHEMA_DIR,
  PROMETHEUS_OPERATOR_CRD_DIR,
  findObject,
  helmLint,
  helmTemplate,
  kustomize,
  kustomizeCombination,
  DEPLOY,
  REPO,
  required,
} from './tools.ts';
import { AGENT_CAPABILITIES } from './capabilities.ts';

let schemas: SchemaSet | undefined;
function schemaSet(): SchemaSet {
  if (schemas === undefined) {
    schemas = SchemaSet.fromKubernetesSpecDir(
      required(KUBERNETES_SCHEMA_DIR, 'Kubernetes OpenAPI v3 schemas'),
    );
    for (const crd of ['podmonitors', 'servicemonitors']) {
      schemas.addCrdFile(
        required(join(PROMETHEUS_OPERATOR_CRD_DIR, `monitoring.coreos.com_${crd}.yaml`), `the ${crd} CRD`),
      );
    }
  }
  return schemas;
}

/** Helm values that change everything a value can change, away from the defaults. */
const NON_DEFAULT: HelmValues = {
  values: {
    image: { repository: 'registry.example/loggerhead', tag: '9.9.9', pullPolicy: 'Always' },
    imagePullSecrets: [{ name: 'regcred' }],
    pipeline: {
      pollInterval: '2s',
      metricsPort: 9500,
      carettaCompatible: true,
      extraConfig: { processors: { k8s_attributes: { owner_depth: 'pod' } } },
    },
    otlp: { enabled: true, endpoint: 'http://gateway.observability:4318', protocol: 'http/protobuf' },
    scrapeAnnotations: false,
    podMonitor: { enabled: true, interval: '15s', labels: { release: 'kube-prometheus-stack' } },
    serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'kube-prometheus-stack' } },
    dashboards: { enabled: true },
    bundled: { enabled: true },
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
    priorityClass: { create: false, name: 'system-node-critical' },
    tolerations: [{ operator: 'Exists' }],
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'lh', operator: 'NotIn', values: ['off'] }] }],
        },
      },
    },
    podAnnotations: { team: 'sre' },
    podLabels: { tier: 'node-agent' },
    hostCgroupPath: '/sys/fs/cgroup/unified',
  },
};

/** Runs the real CLI's `validate` on a pipeline.yaml text; returns its output, throws with it on failure. */
function validatePipeline(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lhd-pipeline-'));
  try {
    const file = join(dir, 'pipeline.yaml');
    writeFileSync(file, text);
    try {
      return execFileSync(process.execPath, [join(REPO, 'cli', 'main.ts'), 'validate', '--config', file], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string };
      throw new Error(`loggerhead validate failed: ${err.stdout ?? ''}${err.stderr ?? ''}`, { cause: e });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Variant {
  name: string;
  render: () => K8sObject[];
}

const VARIANTS: Variant[] = [
  { name: 'kustomize base', render: () => kustomize('base') },
  { name: 'kustomize overlays/prometheus', render: () => kustomize('overlays/prometheus') },
  { name: 'kustomize overlays/otlp', render: () => kustomize('overlays/otlp') },
  { name: 'kustomize overlays/bundled', render: () => kustomize('overlays/bundled') },
  {
    name: 'kustomize base + podmonitor + servicemonitor + dashboards',
    render: () =>
      kustomizeCombination(
        ['base'],
        ['components/podmonitor', 'components/servicemonitor', 'components/dashboards'],
      ),
  },
  { name: 'helm defaults', render: () => helmTemplate() },
  {
    name: 'helm non-default values, release obs in monitoring',
    render: () => helmTemplate(NON_DEFAULT, 'obs', 'monitoring'),
  },
];

const rendered = new Map<string, K8sObject[]>();
function render(v: Variant): K8sObject[] {
  let objects = rendered.get(v.name);
  if (objects === undefined) {
    objects = v.render();
    rendered.set(v.name, objects);
  }
  return objects;
}

for (const v of VARIANTS) {
  void test(`${v.name}: every object validates against the Kubernetes ${'v1.34'} schemas`, () => {
    const objects = render(v);
    assert.ok(objects.length >= 7, `only ${objects.length} objects rendered`);
    const problems = objects.flatMap((o) =>
      schemaSet()
        .validate(o)
        .map((e) => `${o.kind}/${o.metadata.name}: ${e}`),
    );
    assert.deepEqual(problems, []);
  });

  void test(`${v.name}: the ClusterRole only gets, lists and watches what k8s_attributes reads`, () => {
    const objects = render(v);
    const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
    assert.ok(roles.length >= 1);
    for (const role of roles) {
      for (const rule of role['rules'] as Array<Record<string, string[]>>) {
        for (const verb of rule['verbs'] ?? []) {
          assert.ok(
            ['get', 'list', 'watch'].includes(verb),
            `${role.kind} ${role.metadata.name} grants ${verb}`,
          );
        }
        assert.ok(!(rule['resources'] ?? []).includes('*') && !(rule['apiGroups'] ?? []).includes('*'));
        assert.equal(rule['nonResourceURLs'], undefined);
      }
    }
    const clusterRole = findObject(objects, 'ClusterRole');
    const granted = (clusterRole['rules'] as Array<{ apiGroups: string[]; resources: string[] }>)
      .flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => (g === '' ? res : `${res}.${g}`))))
      .sort();
    assert.deepEqual(granted, [
      'cronjobs.batch',
      'daemonsets.apps',
      'deployments.apps',
      'endpointslices.discovery.k8s.io',
      'jobs.batch',
      'nodes',
      'pods',
      'replicasets.apps',
      'services',
      'statefulsets.apps',
    ]);
    const binding = findObject(objects, 'ClusterRoleBinding');
    const sa = findObject(objects, 'ServiceAccount', clusterRole.metadata.name);
    assert.deepEqual(binding['subjects'], [
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace },
    ]);
  });

  void test(`${v.name}: the DaemonSet is not privileged and holds only ${AGENT_CAPABILITIES.join(', ')}`, () => {
    const objects = render(v);
    const ds = findObject(objects, 'DaemonSet');
    const pod = (ds['spec'] as { template: { spec: Record<string, unknown> } }).template.spec;
    assert.equal(pod['hostNetwork'], undefined);
    assert.equal(pod['hostIPC'], undefined);
    assert.equal(pod['hostPID'], true, 'hostPID is documented as needed; change README.md with it');
    const containers = pod['containers'] as Array<Record<string, unknown>>;
    assert.equal(containers.length, 1);
    const c = containers[0] as Record<string, unknown>;
    const sc = c['securityContext'] as Record<string, unknown>;
    assert.equal(sc['privileged'], false);
    assert.equal(sc['allowPrivilegeEscalation'], false);
    assert.equal(sc['readOnlyRootFilesystem'], true);
    assert.deepEqual(sc['capabilities'], { drop: ['ALL'], add: [...AGENT_CAPABILITIES] });
    assert.deepEqual(sc['seccompProfile'], { type: 'RuntimeDefault' });
    // The only host path: the cgroup hierarchy, read-only.
    const volumes = pod['volumes'] as Array<Record<string, unknown>>;
    const hostPaths = volumes.filter((vol) => vol['hostPath'] !== undefined);
    assert.equal(hostPaths.length, 1);
    const hostPath = hostPaths[0] as { name: string; hostPath: { path: string } };
    assert.match(hostPath.hostPath.path, /^\/sys\/fs\/cgroup/);
    const mounts = c['volumeMounts'] as Array<{ name: string; readOnly?: boolean }>;
    for (const m of mounts) assert.equal(m.readOnly, true, `volume ${m.name} is mounted writable`);
    assert.ok(mounts.some((m) => m.name === hostPath.name));
  });

  void test(`${v.name}: probes, node name, tolerations, priority and resources of the agent`, () => {
    const objects = render(v);
    const ds = findObject(objects, 'DaemonSet');
    const pod = (ds['spec'] as { template: { spec: Record<string, unknown> } }).template.spec;
    const c = (pod['containers'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    const port = (c['ports'] as Array<{ name: string; containerPort: number }>).find(
      (p) => p.name === 'metrics',
    );
    assert.ok(port !== undefined);
    assert.deepEqual((c['readinessProbe'] as { httpGet: unknown }).httpGet, {
      path: '/readyz',
      port: 'metrics',
    });
    assert.deepEqual((c['livenessProbe'] as { httpGet: unknown }).httpGet, {
      path: '/healthz',
      port: 'metrics',
    });
    assert.deepEqual(c['env'], [
      { name: 'K8S_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    ]);
    const resources = c['resources'] as { requests: Record<string, string>; limits: Record<string, string> };
    assert.ok(resources.requests['cpu'] !== undefined && resources.requests['memory'] !== undefined);
    assert.ok(resources.limits['memory'] !== undefined);
    const tolerations = pod['tolerations'] as Array<{ key?: string; operator: string }>;
    assert.ok(
      tolerations.some(
        (t) =>
          t.key === 'node-role.kubernetes.io/control-plane' ||
          (t.key === undefined && t.operator === 'Exists'),
      ),
      'control-plane nodes are tolerated',
    );
    const priority = pod['priorityClassName'] as string;
    assert.ok(
      priority === 'system-node-critical' ||
        objects.some((o) => o.kind === 'PriorityClass' && o.metadata.name === priority),
    );
    // The config the agent reads: the ConfigMap mounted where args point.
    assert.deepEqual(c['args'], ['run', '--config', '/etc/loggerhead/pipeline.yaml']);
    const configVolume = (pod['volumes'] as Array<{ name: string; configMap?: { name: string } }>).find(
      (vol) => vol.name === 'config',
    );
    const configMap = findObject(objects, 'ConfigMap', configVolume?.configMap?.name);
    const pipeline = parse(
      (configMap['data'] as Record<string, string>)['pipeline.yaml'] as string,
    ) as Record<string, Record<string, Record<string, unknown>>>;
    assert.deepEqual(pipeline['processors']?.['k8s_attributes']?.['mode'], 'kubernetes');
    assert.ok(pipeline['receivers']?.['ebpf_socket'] !== undefined);
    assert.equal(pipeline['exporters']?.['prometheus']?.['endpoint'], `0.0.0.0:${port.containerPort}`);
    const links = (pipeline['service'] as unknown as { pipelines: Record<string, Record<string, string[]>> })
      .pipelines['links'];
    assert.deepEqual(links?.['receivers'], ['ebpf_socket']);
    assert.deepEqual(links?.['processors'], ['k8s_attributes']);
    const otlp = pipeline['exporters']?.['otlp'] !== undefined;
    assert.deepEqual(links?.['exporters'], otlp ? ['prometheus', 'otlp'] : ['prometheus']);
    // The Service reaches the pods on the same port.
    const service = findObject(objects, 'Service', ds.metadata.name);
    const selector = (service['spec'] as { selector: Record<string, string> }).selector;
    const podLabels = (ds['spec'] as { template: { metadata: { labels: Record<string, string> } } }).template
      .metadata.labels;
    for (const [k, val] of Object.entries(selector)) assert.equal(podLabels[k], val);
  });

  void test(`${v.name}: the agent's own \`loggerhead validate\` accepts the pipeline.yaml`, () => {
    const objects = render(v);
    const ds = findObject(objects, 'DaemonSet');
    const pod = (ds['spec'] as { template: { spec: Record<string, unknown> } }).template.spec;
    const configVolume = (pod['volumes'] as Array<{ name: string; configMap?: { name: string } }>).find(
      (vol) => vol.name === 'config',
    );
    const data = findObject(objects, 'ConfigMap', configVolume?.configMap?.name)['data'] as Record<
      string,
      string
    >;
    assert.match(validatePipeline(data['pipeline.yaml'] as string), /valid \(pipelines: links\)/);
  });
}

void test('the otlp overlay and helm otlp.enabled add the otlp exporter to the links pipeline', () => {
  for (const objects of [kustomize('overlays/otlp'), helmTemplate({ set: { 'otlp.enabled': 'true' } })]) {
    const data = findObject(objects, 'ConfigMap', 'loggerhead-config')['data'] as Record<string, string>;
    const pipeline = parse(data['pipeline.yaml'] as string) as {
      exporters: Record<string, Record<string, unknown>>;
      service: { pipelines: { links: { exporters: string[] } } };
    };
    assert.deepEqual(pipeline.exporters['otlp'], {
      endpoint: 'http://otel-collector.opentelemetry.svc.cluster.local:4317',
      protocol: 'grpc',
    });
    assert.deepEqual(pipeline.service.pipelines.links.exporters, ['prometheus', 'otlp']);
  }
});

/**
 * Objects as a user would compare two installs: the Namespace (kustomize
 * creates it, `helm install --create-namespace` does) and Helm's bookkeeping
 * (`helm.sh/chart`, `managed-by` labels, the config checksum that rolls the
 * pods on a config change) set aside; pipeline.yaml compared as data.
 */
function comparable(objects: K8sObject[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const o of objects) {
    if (o.kind === 'Namespace') continue;
    const copy = structuredClone(o) as K8sObject;
    const labels = copy.metadata.labels;
    if (labels !== undefined) {
      delete labels['helm.sh/chart'];
      delete labels['app.kubernetes.io/managed-by'];
    }
    if (copy.kind === 'DaemonSet') {
      const meta = (copy['spec'] as { template: { metadata: { annotations?: Record<string, string> } } })
        .template.metadata;
      delete meta.annotations?.['checksum/config'];
      if (meta.annotations !== undefined && Object.keys(meta.annotations).length === 0)
        delete meta.annotations;
    }
    const data = copy['data'] as Record<string, string> | undefined;
    if (copy.kind === 'ConfigMap' && data?.['pipeline.yaml'] !== undefined) {
      copy['data'] = { ...data, 'pipeline.yaml': parse(data['pipeline.yaml']) as unknown };
    }
    out.set(`${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`, copy);
  }
  return out;
}

function assertSameObjects(kustomized: K8sObject[], helmed: K8sObject[]): void {
  const k = comparable(kustomized);
  const h = comparable(helmed);
  assert.deepEqual([...h.keys()].sort(), [...k.keys()].sort());
  for (const [key, obj] of k) assert.deepEqual(h.get(key), obj, `${key} differs between helm and kustomize`);
}

void test('helm defaults equal kustomize overlays/prometheus', () => {
  assertSameObjects(kustomize('overlays/prometheus'), helmTemplate());
});

void test('helm otlp.enabled (no scrape annotations) equals kustomize overlays/otlp', () => {
  assertSameObjects(
    kustomize('overlays/otlp'),
    helmTemplate({ set: { 'otlp.enabled': 'true', scrapeAnnotations: 'false' } }),
  );
});

void test('helm bundled.enabled equals kustomize overlays/bundled', () => {
  assertSameObjects(kustomize('overlays/bundled'), helmTemplate({ set: { 'bundled.enabled': 'true' } }));
});

void test('helm monitors and dashboards equal kustomize base + podmonitor + servicemonitor + dashboards', () => {
  assertSameObjects(
    kustomizeCombination(
      ['base'],
      ['components/podmonitor', 'components/servicemonitor', 'components/dashboards'],
    ),
    helmTemplate({
      set: {
        scrapeAnnotations: 'false',
        'podMonitor.enabled': 'true',
        'serviceMonitor.enabled': 'true',
        'dashboards.enabled': 'true',
      },
    }),
  );
});

void test('the comparison notices a difference', () => {
  assert.throws(
    () =>
      assertSameObjects(
        kustomize('overlays/prometheus'),
        helmTemplate({ set: { 'pipeline.pollInterval': '7s' } }),
      ),
    /ConfigMap loggerhead\/loggerhead-config differs/,
  );
});

void test('helm lint --strict passes with default and non-default values', () => {
  for (const values of [{}, NON_DEFAULT]) {
    const out = helmLint(values);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

void test('helm non-default values reach the objects', () => {
  const objects = helmTemplate(NON_DEFAULT, 'obs', 'monitoring');
  const ds = findObject(objects, 'DaemonSet', 'obs-loggerhead');
  assert.equal(ds.metadata.namespace, 'monitoring');
  const pod = (
    ds['spec'] as {
      template: {
        metadata: { annotations: Record<string, string>; labels: Record<string, string> };
        spec: Record<string, unknown>;
      };
    }
  ).template;
  assert.equal(
    pod.metadata.annotations['prometheus.io/scrape'],
    'true',
    'bundled VictoriaMetrics scrapes by annotation',
  );
  assert.equal(pod.metadata.annotations['team'], 'sre');
  assert.equal(pod.metadata.labels['tier'], 'node-agent');
  assert.equal(pod.spec['priorityClassName'], 'system-node-critical');
  assert.ok(!objects.some((o) => o.kind === 'PriorityClass'));
  const c = (pod.spec['containers'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
  assert.equal(c['image'], 'registry.example/loggerhead:9.9.9');
  assert.deepEqual(c['ports'], [{ name: 'metrics', containerPort: 9500, protocol: 'TCP' }]);
  const pipeline = parse(
    (findObject(objects, 'ConfigMap', 'obs-loggerhead-config')['data'] as Record<string, string>)[
      'pipeline.yaml'
    ] as string,
  ) as Record<string, Record<string, Record<string, unknown>>>;
  assert.deepEqual(pipeline['processors'], { k8s_attributes: { mode: 'kubernetes', owner_depth: 'pod' } });
  assert.deepEqual(pipeline['receivers'], { ebpf_socket: { poll_interval: '2s' } });
  assert.deepEqual(pipeline['exporters'], {
    prometheus: { endpoint: '0.0.0.0:9500', caretta_compatible: true },
    otlp: { endpoint: 'http://gateway.observability:4318', protocol: 'http/protobuf' },
  });
  const scrape = (
    findObject(objects, 'ConfigMap', 'obs-loggerhead-victoria-metrics')['data'] as Record<string, string>
  )['scrape.yaml'] as string;
  assert.match(scrape, /names: \[monitoring\]/);
  const grafana = (
    findObject(objects, 'ConfigMap', 'obs-loggerhead-grafana')['data'] as Record<string, string>
  )['datasources.yaml'] as string;
  assert.match(grafana, /url: http:\/\/obs-loggerhead-victoria-metrics\.monitoring\.svc:8428/);
  for (const kind of ['PodMonitor', 'ServiceMonitor']) {
    assert.equal(findObject(objects, kind).metadata.labels?.['release'], 'kube-prometheus-stack');
  }
});

void test('the validator rejects what the API server would (unknown field, wrong type, duplicate port, CRD enum)', () => {
  const ds = structuredClone(findObject(kustomize('base'), 'DaemonSet'));
  const spec = (ds['spec'] as { template: { spec: Record<string, unknown> } }).template.spec;
  const c = (spec['containers'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
  c['securityContext'] = { ...(c['securityContext'] as object), privilegd: true };
  c['ports'] = [
    { name: 'metrics', containerPort: '9464', protocol: 'TCP' },
    { name: 'other', containerPort: 9465, protocol: 'TCP' },
    { name: 'again', containerPort: 9465, protocol: 'TCP' },
  ];
  spec['hostPID'] = 'yes';
  const errors = schemaSet().validate(ds);
  assert.deepEqual(errors.sort(), [
    'spec.template.spec.containers[0].ports: duplicate entry [9465,"TCP"]',
    'spec.template.spec.containers[0].ports[0].containerPort: expected an integer, got string "9464"',
    'spec.template.spec.containers[0].securityContext.privilegd: unknown field',
    'spec.template.spec.hostPID: expected a boolean, got string "yes"',
  ]);
  const pm = structuredClone(
    findObject(kustomizeCombination(['base'], ['components/podmonitor']), 'PodMonitor'),
  );
  const pmSpec = pm['spec'] as { podMetricsEndpoints: Array<Record<string, unknown>> } & Record<
    string,
    unknown
  >;
  pmSpec['podMetricsEndpoint'] = [];
  (pmSpec.podMetricsEndpoints[0] as Record<string, unknown>)['scheme'] = 'gopher';
  assert.deepEqual(schemaSet().validate(pm).sort(), [
    'spec.podMetricsEndpoint: unknown field',
    'spec.podMetricsEndpoints[0].scheme: "gopher" is not one of "http", "https"',
  ]);
  assert.deepEqual(
    schemaSet().validate({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: {} }),
    ['spec: missing required field "containers"'],
  );
});

void test('the committed dashboards are what deploy/dashboards/dashboards.ts builds, in both copies', () => {
  for (const dir of DASHBOARD_DIRS) {
    assert.deepEqual(
      readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort(),
      Object.keys(DASHBOARDS).sort(),
    );
    for (const file of Object.keys(DASHBOARDS)) {
      assert.equal(
        readFileSync(join(dir, file), 'utf8'),
        dashboardText(file),
        `${dir}/${file} is stale: run npx node deploy/dashboards/dashboards.ts`,
      );
    }
  }
});

void test('the bundled VictoriaMetrics scrape config passes the real victoria-metrics dry run, and a typo fails it', () => {
  const vm = required('/usr/bin/victoria-metrics', 'victoria-metrics (apt package victoria-metrics)');
  const scrape = (
    findObject(kustomize('overlays/bundled'), 'ConfigMap', 'loggerhead-victoria-metrics')['data'] as Record<
      string,
      string
    >
  )['scrape.yaml'] as string;
  const dir = mkdtempSync(join(tmpdir(), 'lhd-vm-'));
  try {
    const file = join(dir, 'scrape.yaml');
    writeFileSync(file, scrape);
    const out = execFileSync(vm, ['-promscrape.config.dryRun', `-promscrape.config=${file}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(typeof out, 'string');
    writeFileSync(file, scrape.replace('scrape_interval', 'scrape_intervl'));
    assert.throws(
      () => execFileSync(vm, ['-promscrape.config.dryRun', `-promscrape.config=${file}`], { stdio: 'pipe' }),
      (e: { stderr: Buffer }) => /scrape_intervl not found/.test(e.stderr.toString()),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('loggerhead validate rejects a pipeline.yaml with a mistake, naming it', () => {
  const bad = (
    findObject(kustomize('base'), 'ConfigMap', 'loggerhead-config')['data'] as Record<string, string>
  )['pipeline.yaml'] as string;
  assert.throws(() => validatePipeline(bad.replace('mode: kubernetes', 'mode: kubernets')), /kubernets/);
});

void test('the gateway example validates against the Kubernetes schemas and ships collector.yaml as is', () => {
  const objects = kustomize('../examples/gateway');
  assert.deepEqual(objects.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'Namespace', 'Service']);
  const problems = objects.flatMap((o) =>
    schemaSet()
      .validate(o)
      .map((e) => `${o.kind}/${o.metadata.name}: ${e}`),
  );
  assert.deepEqual(problems, []);
  const configMap = findObject(objects, 'ConfigMap');
  assert.equal(
    (configMap['data'] as Record<string, string>)['collector.yaml'],
    readFileSync(join(DEPLOY, 'examples', 'gateway', 'collector.yaml'), 'utf8'),
  );
  const service = findObject(objects, 'Service', 'otel-collector');
  assert.equal(service.metadata.namespace, 'opentelemetry', 'where the otlp overlay sends');
});
