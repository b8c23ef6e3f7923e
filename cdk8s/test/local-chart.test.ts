/**
 * The chart rendered for kind plus LocalStack (localChartProps, what `make
 * kind-up` applies): LocalStack endpoint for worker and trigger, static test
 * keys from a Secret instead of pod identity, no Karpenter objects, the
 * kind-loaded image; the production defaults stay as they were. Also the kind
 * cluster config (localstack/kind.yaml). Schema checks of the local chart run
 * with the production chart's in crd-schema and kubernetes-validate tests.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { endpointPort, LOCAL_AWS_ENDPOINT, localChartProps } from '../src';
import { CDK8S_DIR } from './support/paths';
import { Manifest, only, synthManifests, testLocalProps, testProps } from './support/synth';

const podSpec = (manifests: Manifest[]) => only(manifests, 'ScaledJob').spec.jobTargetRef.template.spec;
const envOf = (manifests: Manifest[]) => podSpec(manifests).containers[0].env as { name: string; value?: string; valueFrom?: any }[];

describe('the local chart', () => {
  const manifests = synthManifests(testLocalProps());

  test('renders no Karpenter objects, and a Secret for the test keys', () => {
    expect(manifests.map((m) => m.kind).sort()).toEqual(
      ['Namespace', 'NetworkPolicy', 'ScaledJob', 'Secret', 'ServiceAccount', 'TriggerAuthentication'].sort(),
    );
  });

  test('the worker calls LocalStack with the keys from the Secret', () => {
    const secret = only(manifests, 'Secret');
    const env = envOf(manifests);
    expect(env.find((e) => e.name === 'AWS_ENDPOINT_URL')).toEqual({ name: 'AWS_ENDPOINT_URL', value: LOCAL_AWS_ENDPOINT });
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      expect(env.find((e) => e.name === key)).toEqual({
        name: key,
        valueFrom: { secretKeyRef: { name: secret.metadata.name, key } },
      });
      expect(secret.stringData[key]).toBe('test');
    }
  });

  test('KEDA reads the queue at LocalStack with the same keys, not through pod identity', () => {
    const trigger = only(manifests, 'ScaledJob').spec.triggers[0];
    expect(trigger.metadata.awsEndpoint).toBe(LOCAL_AWS_ENDPOINT);
    expect(trigger.metadata.queueURL).toBe(testLocalProps().queueUrl);
    const auth = only(manifests, 'TriggerAuthentication');
    expect(trigger.authenticationRef.name).toBe(auth.metadata.name);
    expect(auth.spec.podIdentity).toBeUndefined();
    const secretName = only(manifests, 'Secret').metadata.name;
    expect(auth.spec.secretTargetRef).toEqual([
      { parameter: 'awsAccessKeyID', name: secretName, key: 'AWS_ACCESS_KEY_ID' },
      { parameter: 'awsSecretAccessKey', name: secretName, key: 'AWS_SECRET_ACCESS_KEY' },
    ]);
  });

  test('pods run on any Linux node and use the image kind loaded, never pulling', () => {
    const spec = podSpec(manifests);
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(spec.tolerations).toBeUndefined();
    expect(spec.containers[0].image).toBe('data-processor:dev');
    expect(spec.containers[0].imagePullPolicy).toBe('Never');
  });

  test('the NetworkPolicy lets the pods reach the LocalStack port', () => {
    const ports = only(manifests, 'NetworkPolicy').spec.egress.flatMap((rule: any) => rule.ports.map((p: any) => p.port));
    expect(ports).toContain(4566);
  });

  test('the endpoint port follows the URL', () => {
    expect(endpointPort('http://localstack:4566')).toBe(4566);
    expect(endpointPort('http://emulator')).toBe(80);
    expect(endpointPort('https://emulator')).toBe(443);
    expect(() => endpointPort('localstack:4566')).toThrow(/http\(s\) URL/);
    expect(() => localChartProps({ queueUrl: 'q', tableName: 't', awsEndpointUrl: 'not a url' })).toThrow(/http\(s\) URL/);
  });
});

describe('production defaults are unchanged by the local options', () => {
  const manifests = synthManifests(testProps());

  test('pod identity, no Secret, no endpoint, IfNotPresent, the dedicated pool', () => {
    expect(manifests.map((m) => m.kind)).not.toContain('Secret');
    expect(only(manifests, 'TriggerAuthentication').spec).toEqual({ podIdentity: { provider: 'aws' } });
    expect(only(manifests, 'ScaledJob').spec.triggers[0].metadata.awsEndpoint).toBeUndefined();
    expect(envOf(manifests).map((e) => e.name)).not.toEqual(expect.arrayContaining(['AWS_ENDPOINT_URL']));
    expect(envOf(manifests).every((e) => e.valueFrom === undefined)).toBe(true);
    const spec = podSpec(manifests);
    expect(spec.containers[0].imagePullPolicy).toBe('IfNotPresent');
    expect(spec.nodeSelector['karpenter.sh/nodepool']).toBe('data-processor');
    expect(spec.tolerations).toHaveLength(1);
  });
});

describe('the local options refuse contradictions', () => {
  test.each([
    [
      'an endpoint twice',
      { awsEndpointUrl: 'http://a:1', extraEnv: { AWS_ENDPOINT_URL: 'http://b:2' } },
      /extraEnv may not set AWS_ENDPOINT_URL; awsEndpointUrl sets it/,
    ],
    [
      'keys twice',
      { staticCredentials: { accessKeyId: 'a', secretAccessKey: 'b' }, extraEnv: { AWS_ACCESS_KEY_ID: 'c' } },
      /extraEnv may not set AWS_ACCESS_KEY_ID; staticCredentials sets it/,
    ],
    [
      'static keys with a KEDA role',
      { staticCredentials: { accessKeyId: 'a', secretAccessKey: 'b' }, identity: { kedaRoleArn: 'arn:aws:iam::x:role/k' } },
      /needs pod identity/,
    ],
    ['empty keys', { staticCredentials: { accessKeyId: ' ', secretAccessKey: 'b' } }, /staticCredentials.accessKeyId is required/],
    ['an empty endpoint', { awsEndpointUrl: '' }, /awsEndpointUrl is required/],
  ])('%s', (_name, overrides, error) => {
    expect(() => synthManifests(testProps(overrides))).toThrow(error);
  });
});

describe('the kind cluster config (localstack/kind.yaml)', () => {
  const file = path.resolve(CDK8S_DIR, '..', 'localstack', 'kind.yaml');
  const config = parse(fs.readFileSync(file, 'utf8'));
  // The fields of kind's v1alpha4 Cluster and Node this file may use.
  const CLUSTER_FIELDS = ['kind', 'apiVersion', 'name', 'nodes', 'networking', 'featureGates', 'runtimeConfig', 'kubeadmConfigPatches', 'containerdConfigPatches'];
  const NODE_FIELDS = ['role', 'image', 'labels', 'extraMounts', 'extraPortMappings', 'kubeadmConfigPatches'];

  test('is a kind v1alpha4 Cluster with known fields only', () => {
    expect(config.kind).toBe('Cluster');
    expect(config.apiVersion).toBe('kind.x-k8s.io/v1alpha4');
    expect(Object.keys(config).filter((k) => !CLUSTER_FIELDS.includes(k))).toEqual([]);
    for (const node of config.nodes) {
      expect(Object.keys(node).filter((k) => !NODE_FIELDS.includes(k))).toEqual([]);
    }
  });

  test('one control plane and a worker for the job pods', () => {
    expect(config.nodes.map((n: { role: string }) => n.role)).toEqual(['control-plane', 'worker']);
  });

  test('every node runs a pinned Kubernetes 1.33, the version the chart is validated against', () => {
    for (const node of config.nodes) {
      expect(node.image).toMatch(/^kindest\/node:v1\.33\.\d+(@sha256:[0-9a-f]{64})?$/);
    }
  });
});
