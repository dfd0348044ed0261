/**
 * deploy/image/Containerfile, built for real with buildah (chroot isolation,
 * so no container runtime is needed) on the local base image that
 * scripts/setup.d/50-deploy-tools.sh makes from a debootstrap root file system
 * plus Node 24 and npm from the npm registry (this machine cannot pull
 * docker.io/library/node). The built image
 * is then checked from inside: its CLI lists the components, validates the
 * DaemonSet's pipeline.yaml, koffi loads libbpf.so.1, the BPF object is the
 * committed one, and no development dependency was shipped.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEPLOY, REPO, findObject, kustomize } from './tools.ts';

const CONTAINERFILE = join(DEPLOY, 'image', 'Containerfile');
/** Built by scripts/setup.d/50-deploy-tools.sh --test. */
const BASE_IMAGE = 'localhost/loggerhead-test-base:node24.21.0-bookworm';
const IMAGE = 'localhost/loggerhead:test';
const BUILDAH_ENV = { ...process.env, BUILDAH_ISOLATION: 'chroot' };
/** This machine reaches the npm registry through a TLS proxy whose CA is in the system bundle. */
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

function buildah(args: string[], input?: string): string {
  try {
    return execFileSync('buildah', args, {
      env: BUILDAH_ENV,
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `buildah ${args.join(' ')} failed: ${(err.stdout ?? '').slice(-3000)}${err.stderr ?? err.message}`,
      {
        cause: e,
      },
    );
  }
}

interface Instruction {
  line: number;
  op: string;
  args: string[];
}

function instructions(): Instruction[] {
  return readFileSync(CONTAINERFILE, 'utf8')
    .split('\n')
    .map((text, i) => ({ text: text.trim(), line: i + 1 }))
    .filter(({ text }) => text !== '' && !text.startsWith('#') && /^[A-Z]+\s/.test(text))
    .map(({ text, line }) => {
      const [op, ...args] = text.split(/\s+/);
      return { line, op: op as string, args };
    });
}

void test('every COPY source of the Containerfile exists, and every --from names an earlier stage', () => {
  const stages: string[] = [];
  let copies = 0;
  for (const ins of instructions()) {
    if (ins.op === 'FROM') {
      const as = ins.args.findIndex((a) => a.toUpperCase() === 'AS');
      if (as >= 0) stages.push(ins.args[as + 1] as string);
      continue;
    }
    if (ins.op !== 'COPY') continue;
    copies += 1;
    const from = ins.args.find((a) => a.startsWith('--from='));
    const paths = ins.args.filter((a) => !a.startsWith('--'));
    assert.ok(paths.length >= 2, `line ${ins.line}: COPY needs a source and a destination`);
    if (from !== undefined) {
      assert.ok(stages.includes(from.slice('--from='.length)), `line ${ins.line}: no earlier stage ${from}`);
      continue;
    }
    for (const source of paths.slice(0, -1)) {
      assert.ok(existsSync(join(REPO, source)), `line ${ins.line}: COPY source ${source} does not exist`);
    }
  }
  assert.ok(copies >= 10, `only ${copies} COPY instructions found`);
  assert.deepEqual(stages, ['deps', 'build']);
});

let container: string | undefined;

/** Builds the image (once per run; unchanged layers come from buildah's cache) and a container of it. */
function built(): string {
  if (container !== undefined) return container;
  try {
    execFileSync('buildah', ['--version'], { stdio: 'pipe' });
  } catch (cause) {
    throw new Error('buildah is missing: run scripts/setup.d/50-deploy-tools.sh --test', { cause });
  }
  try {
    buildah(['inspect', '--type', 'image', BASE_IMAGE]);
  } catch (cause) {
    throw new Error(`base image ${BASE_IMAGE} is missing: run scripts/setup.d/50-deploy-tools.sh --test`, {
      cause,
    });
  }
  const ca = existsSync(CA_BUNDLE)
    ? [
        '--volume',
        `${CA_BUNDLE}:/etc/ssl/proxy-ca.crt:ro`,
        '--build-arg',
        'NODE_EXTRA_CA_CERTS=/etc/ssl/proxy-ca.crt',
      ]
    : [];
  buildah([
    'bud',
    '--layers',
    '--pull=never',
    '--build-arg',
    `NODE_IMAGE=${BASE_IMAGE}`,
    ...ca,
    '--file',
    CONTAINERFILE,
    '--tag',
    IMAGE,
    REPO,
  ]);
  container = buildah(['from', IMAGE]).trim();
  return container;
}

after(() => {
  // The image and its layers stay: they are buildah's cache for the next run.
  if (container !== undefined) buildah(['rm', container]);
});

/** Runs a shell command inside the built image. */
function inImage(script: string, input?: string): string {
  return buildah(['run', built(), '--', 'sh', '-c', script], input);
}

void test('the image runs the CLI as its entrypoint, with every built-in component', () => {
  built();
  const inspected = JSON.parse(buildah(['inspect', '--type', 'image', IMAGE])) as {
    OCIv1: { config: { Entrypoint: string[]; Cmd: string[]; User: string } };
  };
  const config = inspected.OCIv1.config;
  assert.deepEqual(config.Entrypoint, ['node', '/opt/loggerhead/bin/loggerhead.js']);
  assert.deepEqual(config.Cmd, ['run', '--config', '/etc/loggerhead/pipeline.yaml']);
  assert.equal(config.User, '0:0');
  const components = inImage('node /opt/loggerhead/bin/loggerhead.js components');
  for (const name of ['ebpf_socket', 'k8s_attributes', 'prometheus', 'otlp']) {
    assert.match(components, new RegExp(`^\\s+${name}\\s`, 'm'), `${name} listed`);
  }
  assert.match(inImage('node --version'), /^v24\./);
});

void test("the image's own loggerhead validate accepts the DaemonSet's pipeline.yaml", () => {
  const data = findObject(kustomize('overlays/otlp'), 'ConfigMap', 'loggerhead-config')['data'] as Record<
    string,
    string
  >;
  const out = inImage(
    'mkdir -p /tmp/lh && cat > /tmp/lh/pipeline.yaml && node /opt/loggerhead/bin/loggerhead.js validate --config /tmp/lh/pipeline.yaml',
    data['pipeline.yaml'],
  );
  assert.match(out, /valid \(pipelines: links\)/);
});

void test('libbpf.so.1 loads through koffi, the BPF object is the committed one, no dev dependency is shipped', () => {
  const loaded = inImage(
    "cd /opt/loggerhead && node --input-type=module -e \"import koffi from 'koffi'; koffi.load('libbpf.so.1'); console.log('loaded')\"",
  );
  assert.equal(loaded.trim(), 'loaded');
  const committed = createHash('sha256')
    .update(readFileSync(join(REPO, 'bpf', 'socket_tracker.bpf.o')))
    .digest('hex');
  assert.equal(inImage('sha256sum /opt/loggerhead/bpf/socket_tracker.bpf.o').split(/\s+/)[0], committed);
  // Development-only packages (others, such as @grpc/grpc-js, are production dependencies' own too).
  const devOnly = ['typescript', 'eslint', 'typescript-eslint', 'prettier', 'playwright-core', 'node'];
  const shipped = inImage(
    `cd /opt/loggerhead/node_modules && ls -d ${devOnly.join(' ')} 2>/dev/null || true`,
  );
  assert.equal(shipped.trim(), '', 'development dependencies in the image');
  assert.equal(inImage('test -d /opt/loggerhead/dist/receivers/ebpf_socket && echo built').trim(), 'built');
});
