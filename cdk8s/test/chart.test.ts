/**
 * What the chart renders, field by field: scaling strategy, authentication,
 * Job and pod settings, the worker's environment contract, node pool and node
 * class, labels, and the checks on props.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Testing } from 'cdk8s';
import {
  DEFAULT_BOTTLEROCKET_AMI_ALIAS,
  DEDICATED_TAINT_KEY,
  JobWorkerChartProps,
  WORKER_ENV_NAMES,
} from '../src';
import { buildChart, Manifest, only, synthManifests, testNodes, testProps } from './support/synth';

const ACCOUNT_ID = /(?<![0-9])[0-9]{12}(?![0-9])/;
const CLUSTER_SCOPED = new Set(['Namespace', 'NodePool', 'EC2NodeClass']);

function podSpecOf(manifests: Manifest[]) {
  return only(manifests, 'ScaledJob').spec.jobTargetRef.template.spec;
}

function containerOf(manifests: Manifest[]) {
  const containers = podSpecOf(manifests).containers;
  expect(containers).toHaveLength(1);
  return containers[0];
}

function envOf(manifests: Manifest[]): Record<string, string> {
  return Object.fromEntries(containerOf(manifests).env.map((e: { name: string; value: string }) => [e.name, e.value]));
}

function requirement(nodePool: Manifest, key: string) {
  return nodePool.spec.template.spec.requirements.find((r: { key: string }) => r.key === key);
}

describe('objects', () => {
  const manifests = synthManifests();

  test('renders exactly the expected kinds', () => {
    expect(manifests.map((m) => `${m.apiVersion} ${m.kind}`).sort()).toEqual([
      'karpenter.k8s.aws/v1 EC2NodeClass',
      'karpenter.sh/v1 NodePool',
      'keda.sh/v1alpha1 ScaledJob',
      'keda.sh/v1alpha1 TriggerAuthentication',
      'networking.k8s.io/v1 NetworkPolicy',
      'v1 Namespace',
      'v1 ServiceAccount',
    ]);
  });

  test('namespaced objects sit in the namespace, cluster-scoped ones carry none', () => {
    for (const m of manifests) {
      if (CLUSTER_SCOPED.has(m.kind)) {
        expect(m.metadata.namespace).toBeUndefined();
      } else {
        expect(m.metadata.namespace).toBe('jobs-test');
      }
    }
    expect(only(manifests, 'Namespace').metadata.name).toBe('jobs-test');
  });

  test('every object says what owns it', () => {
    const components: Record<string, string> = {};
    for (const m of manifests) {
      expect(m.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'data-processor',
        'app.kubernetes.io/part-of': 'jobs-api',
        'app.kubernetes.io/managed-by': 'cdk8s',
      });
      components[m.kind] = m.metadata.labels['app.kubernetes.io/component'];
    }
    expect(components).toEqual({
      Namespace: 'namespace',
      ServiceAccount: 'worker',
      TriggerAuthentication: 'autoscaler',
      ScaledJob: 'worker',
      NetworkPolicy: 'worker',
      EC2NodeClass: 'node-capacity',
      NodePool: 'node-capacity',
    });
  });

  test('the namespace enforces the restricted pod security standard', () => {
    expect(only(manifests, 'Namespace').metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
  });

  test('createNamespace: false leaves the namespace to someone else', () => {
    const kinds = synthManifests(testProps({ createNamespace: false })).map((m) => m.kind);
    expect(kinds).not.toContain('Namespace');
    expect(kinds).toContain('ScaledJob');
  });

  test('no 12-digit account id appears when the props carry none', () => {
    expect(JSON.stringify(manifests)).not.toMatch(ACCOUNT_ID);
  });

  test('the library source holds no account id or ARN of its own', () => {
    const srcDir = path.resolve(__dirname, '..', 'src');
    for (const file of fs.readdirSync(srcDir)) {
      const text = fs.readFileSync(path.join(srcDir, file), 'utf8');
      expect({ file, accountIds: text.match(ACCOUNT_ID), arns: text.match(/arn:aws[a-z-]*:/) }).toEqual({
        file,
        accountIds: null,
        arns: null,
      });
    }
  });

  test('the account-id check does catch one that comes in through props', () => {
    const withAccount = synthManifests(
      testProps({ queueUrl: 'https://sqs.eu-central-1.amazonaws.com/111122223333/q' }),
    );
    expect(JSON.stringify(withAccount)).toMatch(ACCOUNT_ID);
  });
});

describe('ScaledJob scaling', () => {
  const manifests = synthManifests();
  const scaledJob = only(manifests, 'ScaledJob');

  test('uses the accurate strategy with in-flight messages left out of the count', () => {
    expect(scaledJob.spec.scalingStrategy).toEqual({ strategy: 'accurate' });
    expect(scaledJob.spec.triggers[0].metadata.scaleOnInFlight).toBe('false');
  });

  test('has one aws-sqs-queue trigger, one message per Job, no identityOwner', () => {
    expect(scaledJob.spec.triggers).toHaveLength(1);
    const trigger = scaledJob.spec.triggers[0];
    expect(trigger.type).toBe('aws-sqs-queue');
    expect(trigger.metadata).toMatchObject({
      queueURL: 'https://sqs.eu-central-1.amazonaws.com/queue-owner/jobs-test-queue',
      awsRegion: 'eu-central-1',
      queueLength: '1',
    });
    expect(trigger.metadata).not.toHaveProperty('identityOwner');
    for (const value of Object.values(trigger.metadata)) {
      expect(typeof value).toBe('string');
    }
  });

  test('authenticates through a TriggerAuthentication with pod identity provider aws', () => {
    const auth = only(manifests, 'TriggerAuthentication');
    expect(scaledJob.spec.triggers[0].authenticationRef).toEqual({
      kind: 'TriggerAuthentication',
      name: auth.metadata.name,
    });
    expect(auth.spec).toEqual({ podIdentity: { provider: 'aws' } });
  });

  test('a KEDA role to assume goes into the TriggerAuthentication', () => {
    const roleArn = 'arn:aws:iam::queue-reader:role/keda-sqs';
    const auth = only(synthManifests(testProps({ identity: { kedaRoleArn: roleArn } })), 'TriggerAuthentication');
    expect(auth.spec.podIdentity).toEqual({ provider: 'aws', roleArn });
  });

  test('polling, replica bounds, history limits and rollout', () => {
    expect(scaledJob.spec).toMatchObject({
      pollingInterval: 10,
      minReplicaCount: 0,
      maxReplicaCount: 12,
      successfulJobsHistoryLimit: 10,
      failedJobsHistoryLimit: 20,
      rollout: { strategy: 'gradual' },
    });
    const tuned = only(
      synthManifests(
        testProps({
          scaling: { maxReplicaCount: 3, pollingIntervalSecs: 5, successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 2 },
        }),
      ),
      'ScaledJob',
    );
    expect(tuned.spec).toMatchObject({
      pollingInterval: 5,
      maxReplicaCount: 3,
      successfulJobsHistoryLimit: 1,
      failedJobsHistoryLimit: 2,
    });
  });
});

describe('Job and pod', () => {
  const manifests = synthManifests();
  const jobSpec = only(manifests, 'ScaledJob').spec.jobTargetRef;
  const pod = podSpecOf(manifests);
  const container = containerOf(manifests);

  test('no Job-level retries, one pod per Job', () => {
    expect(jobSpec).toMatchObject({ backoffLimit: 0, parallelism: 1, completions: 1, ttlSecondsAfterFinished: 3600 });
    expect(pod.restartPolicy).toBe('Never');
  });

  test('deadline and grace are derived from the worker defaults', () => {
    // 3 attempts x 300 s + retry delays of at most 2 x (1 s + 2 s) + 180 s startup allowance.
    expect(jobSpec.activeDeadlineSeconds).toBe(3 * 300 + 6 + 180);
    // 25 s shutdown grace + 5 s margin.
    expect(pod.terminationGracePeriodSeconds).toBe(30);
  });

  test('deadline, grace and node drain grace follow the props', () => {
    const chart = buildChart(
      testProps({
        worker: { maxAttempts: 5, attemptTimeoutSecs: 60, retryMaxDelayMs: 10_500, shutdownGraceSecs: 40 },
        job: { startupAllowanceSecs: 100, ttlSecondsAfterFinished: 60 },
      }),
    );
    const m = Testing.synth(chart) as Manifest[];
    // 5 x 60 s attempts; delays 1, 2, 4, 8 s (under the 10.5 s cap), doubled for jitter; 100 s allowance.
    const deadline = 5 * 60 + 2 * (1 + 2 + 4 + 8) + 100;
    expect(chart.scaledJob.activeDeadlineSecs).toBe(deadline);
    expect(only(m, 'ScaledJob').spec.jobTargetRef).toMatchObject({ activeDeadlineSeconds: deadline, ttlSecondsAfterFinished: 60 });
    expect(podSpecOf(m).terminationGracePeriodSeconds).toBe(45);
    expect(only(m, 'NodePool').spec.template.spec.terminationGracePeriod).toBe(`${deadline + 45}s`);
  });

  test('runs the worker once per pod from the given image', () => {
    expect(container.name).toBe('data-processor');
    expect(container.image).toBe('registry.test/jobs/data-processor:1.2.3');
    expect(container.args).toEqual(['--once']);
    expect(container.command).toBeUndefined();
  });

  test('an image digest pins the exact image', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const m = synthManifests(testProps({ image: { repository: 'registry.test/jobs/data-processor', digest } }));
    expect(containerOf(m).image).toBe(`registry.test/jobs/data-processor@${digest}`);
  });

  test('requests and limits CPU and memory', () => {
    expect(container.resources).toEqual({
      requests: { cpu: '250m', memory: '256Mi' },
      limits: { cpu: '1', memory: '512Mi' },
    });
    const m = synthManifests(testProps({ resources: { cpuRequest: '500m', memoryLimit: '1Gi' } }));
    expect(containerOf(m).resources).toEqual({
      requests: { cpu: '500m', memory: '256Mi' },
      limits: { cpu: '1', memory: '1Gi' },
    });
  });

  test('restricted security context on pod and container', () => {
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.hostPID).toBeUndefined();
  });

  test('Karpenter may not disrupt a node under a running job', () => {
    const metadata = only(manifests, 'ScaledJob').spec.jobTargetRef.template.metadata;
    expect(metadata.annotations).toEqual({ 'karpenter.sh/do-not-disrupt': 'true' });
  });

  test('job pods go to the job node pool and tolerate its taint', () => {
    const nodePool = only(manifests, 'NodePool');
    expect(pod.nodeSelector).toEqual({ 'karpenter.sh/nodepool': nodePool.metadata.name, 'kubernetes.io/os': 'linux' });
    const [taint] = nodePool.spec.template.spec.taints;
    expect(taint).toEqual({ key: DEDICATED_TAINT_KEY, value: 'data-processor', effect: 'NoSchedule' });
    expect(pod.tolerations).toEqual([{ key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect }]);
  });

  test('runs as the worker ServiceAccount without the API token', () => {
    const sa = only(manifests, 'ServiceAccount');
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(sa.automountServiceAccountToken).toBe(false);
  });

  test('the ServiceAccount has no IRSA annotation unless asked', () => {
    expect(only(manifests, 'ServiceAccount').metadata.annotations).toBeUndefined();
    const roleArn = 'arn:aws:iam::role-owner:role/data-processor';
    const sa = only(synthManifests(testProps({ identity: { irsaRoleArn: roleArn, serviceAccountName: 'worker' } })), 'ServiceAccount');
    expect(sa.metadata).toMatchObject({ name: 'worker', annotations: { 'eks.amazonaws.com/role-arn': roleArn } });
  });

  test('the NetworkPolicy selects the job pods and denies ingress', () => {
    const policy = only(manifests, 'NetworkPolicy');
    const podLabels = only(manifests, 'ScaledJob').spec.jobTargetRef.template.metadata.labels;
    expect(podLabels).toMatchObject(policy.spec.podSelector.matchLabels);
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec.ingress).toEqual([]);
    const kinds = synthManifests(testProps({ networkPolicy: { enabled: false } })).map((m) => m.kind);
    expect(kinds).not.toContain('NetworkPolicy');
  });
});

describe('worker environment', () => {
  test('carries the whole contract with the worker defaults', () => {
    const env = envOf(synthManifests());
    expect(Object.keys(env)).toEqual([...WORKER_ENV_NAMES]);
    expect(env).toEqual({
      JOBS_QUEUE_URL: 'https://sqs.eu-central-1.amazonaws.com/queue-owner/jobs-test-queue',
      JOBS_TABLE_NAME: 'jobs-test-table',
      AWS_REGION: 'eu-central-1',
      JOBS_MAX_ATTEMPTS: '3',
      JOBS_RETRY_BASE_DELAY_MS: '1000',
      JOBS_RETRY_MAX_DELAY_MS: '30000',
      JOBS_ATTEMPT_TIMEOUT_SECS: '300',
      JOBS_VISIBILITY_TIMEOUT_SECS: '30',
      JOBS_SHUTDOWN_GRACE_SECS: '25',
      JOBS_COUNTERS: 'inline',
      RUST_LOG: 'info',
    });
  });

  test('tunables and extra variables come from props', () => {
    const env = envOf(
      synthManifests(
        testProps({
          worker: {
            maxAttempts: 4,
            retryBaseDelayMs: 200,
            retryMaxDelayMs: 5000,
            attemptTimeoutSecs: 60,
            visibilityTimeoutSecs: 45,
            shutdownGraceSecs: 10,
            rustLog: 'data_processor=debug,info',
            counting: 'stream',
          },
          extraEnv: { AWS_ENDPOINT_URL: 'http://emulator.test:4566' },
        }),
      ),
    );
    expect(env).toMatchObject({
      JOBS_MAX_ATTEMPTS: '4',
      JOBS_RETRY_BASE_DELAY_MS: '200',
      JOBS_RETRY_MAX_DELAY_MS: '5000',
      JOBS_ATTEMPT_TIMEOUT_SECS: '60',
      JOBS_VISIBILITY_TIMEOUT_SECS: '45',
      JOBS_SHUTDOWN_GRACE_SECS: '10',
      JOBS_COUNTERS: 'stream',
      RUST_LOG: 'data_processor=debug,info',
      AWS_ENDPOINT_URL: 'http://emulator.test:4566',
    });
  });

  test('extra variables may not redefine the contract', () => {
    expect(() => buildChart(testProps({ extraEnv: { JOBS_QUEUE_URL: 'elsewhere' } }))).toThrow(/may not redefine JOBS_QUEUE_URL/);
  });
});

describe('NodePool', () => {
  const manifests = synthManifests();
  const nodePool = only(manifests, 'NodePool');

  test('spot with on-demand fallback', () => {
    expect(requirement(nodePool, 'karpenter.sh/capacity-type')).toEqual({
      key: 'karpenter.sh/capacity-type',
      operator: 'In',
      values: ['spot', 'on-demand'],
    });
  });

  test('architecture defaults to amd64 and follows props', () => {
    expect(requirement(nodePool, 'kubernetes.io/arch').values).toEqual(['amd64']);
    const multi = only(
      synthManifests(testProps({ nodes: { ...testNodes(), architectures: ['arm64', 'amd64'] } })),
      'NodePool',
    );
    expect(requirement(multi, 'kubernetes.io/arch').values).toEqual(['arm64', 'amd64']);
  });

  test('instance category, generation and size bounds', () => {
    expect(requirement(nodePool, 'karpenter.k8s.aws/instance-category')).toMatchObject({ operator: 'In', values: ['c', 'm', 'r'] });
    expect(requirement(nodePool, 'karpenter.k8s.aws/instance-generation')).toMatchObject({ operator: 'Gt', values: ['4'] });
    expect(requirement(nodePool, 'karpenter.k8s.aws/instance-cpu')).toMatchObject({ operator: 'Lt', values: ['17'] });
  });

  test('limits, consolidation and expiry', () => {
    expect(nodePool.spec.limits).toEqual({ cpu: '16', memory: '64Gi' });
    expect(nodePool.spec.disruption).toEqual({ consolidationPolicy: 'WhenEmptyOrUnderutilized', consolidateAfter: '2m' });
    expect(nodePool.spec.template.spec.expireAfter).toBe('168h');
  });

  test('refers to the EC2NodeClass', () => {
    const nodeClass = only(manifests, 'EC2NodeClass');
    expect(nodePool.spec.template.spec.nodeClassRef).toEqual({
      group: 'karpenter.k8s.aws',
      kind: 'EC2NodeClass',
      name: nodeClass.metadata.name,
    });
  });

  test('node labels stay out of the kubernetes.io and k8s.io domains', () => {
    for (const key of Object.keys(nodePool.spec.template.metadata.labels)) {
      const domain = key.includes('/') ? key.split('/')[0] : '';
      expect(domain).not.toMatch(/(^|\.)(kubernetes\.io|k8s\.io|karpenter\.sh)$/);
    }
  });
});

describe('EC2NodeClass', () => {
  const nodeClass = only(synthManifests(), 'EC2NodeClass');

  test('boots a pinned Bottlerocket release', () => {
    expect(nodeClass.spec.amiSelectorTerms).toEqual([{ alias: DEFAULT_BOTTLEROCKET_AMI_ALIAS }]);
    expect(DEFAULT_BOTTLEROCKET_AMI_ALIAS).toMatch(/^bottlerocket@v\d+\.\d+\.\d+$/);
  });

  test('finds subnets and security groups by the discovery tag and uses the node role', () => {
    const byTag = [{ tags: { 'karpenter.sh/discovery': 'jobs-test-cluster' } }];
    expect(nodeClass.spec.subnetSelectorTerms).toEqual(byTag);
    expect(nodeClass.spec.securityGroupSelectorTerms).toEqual(byTag);
    expect(nodeClass.spec.role).toBe('jobs-test-node-role');
  });

  test('IMDSv2 only, pods kept off the metadata service', () => {
    expect(nodeClass.spec.metadataOptions).toEqual({
      httpEndpoint: 'enabled',
      httpProtocolIPv6: 'disabled',
      httpPutResponseHopLimit: 1,
      httpTokens: 'required',
    });
  });

  test('encrypted volumes, optionally with a KMS key', () => {
    for (const mapping of nodeClass.spec.blockDeviceMappings) {
      expect(mapping.ebs).toMatchObject({ encrypted: true, volumeType: 'gp3', deleteOnTermination: true });
    }
    const kmsKeyId = 'alias/jobs-nodes';
    const withKey = only(synthManifests(testProps({ nodes: { ...testNodes(), kmsKeyId } })), 'EC2NodeClass');
    for (const mapping of withKey.spec.blockDeviceMappings) {
      expect(mapping.ebs.kmsKeyID).toBe(kmsKeyId);
    }
  });
});

describe('props checks', () => {
  const cases: [string, Partial<JobWorkerChartProps>, RegExp][] = [
    ['empty queue URL', { queueUrl: ' ' }, /queueUrl is required/],
    ['empty table name', { tableName: '' }, /tableName is required/],
    ['empty region', { region: '' }, /region is required/],
    ['tag and digest', { image: { repository: 'r.test/x', tag: '1', digest: `sha256:${'0'.repeat(64)}` } }, /exactly one/],
    ['neither tag nor digest', { image: { repository: 'r.test/x' } }, /exactly one/],
    ['latest tag', { image: { repository: 'r.test/x', tag: 'latest' } }, /not be empty or "latest"/],
    ['malformed digest', { image: { repository: 'r.test/x', digest: 'sha256:abc' } }, /image.digest/],
    ['tag inside the repository', { image: { repository: 'r.test/x:1', tag: '2' } }, /must not carry a tag/],
    ['zero replicas', { scaling: { maxReplicaCount: 0 } }, /maxReplicaCount must be an integer >= 1/],
    ['zero attempts', { worker: { maxAttempts: 0 } }, /maxAttempts/],
    ['max delay below base delay', { worker: { retryBaseDelayMs: 5000, retryMaxDelayMs: 1000 } }, /retryMaxDelayMs/],
    ['unpinned AMI', { nodes: { ...testNodes(), amiAlias: 'bottlerocket@latest' } }, /must pin a Bottlerocket release/],
    ['role ARN instead of name', { nodes: { ...testNodes(), nodeRoleName: 'arn:aws:iam::x:role/y' } }, /role name, not its ARN/],
    ['bad duration', { nodes: { ...testNodes(), consolidateAfter: '2 minutes' } }, /consolidateAfter/],
    ['reserved node tag', { nodes: { ...testNodes(), tags: { 'karpenter.sh/nodepool': 'x' } } }, /Karpenter owns it/],
    ['pool too small for the replicas (cpu)', { scaling: { maxReplicaCount: 100 } }, /cpuLimit \(16\) cannot hold/],
    ['pool too small for the replicas (memory)', { nodes: { ...testNodes(), memoryLimit: '1Gi' } }, /memoryLimit \(1Gi\) cannot hold/],
  ];
  test.each(cases)('rejects %s', (_name, overrides, message) => {
    expect(() => buildChart(testProps(overrides))).toThrow(message);
  });

  test('deploy-time tokens pass through unchecked', () => {
    const token = '${Token[TOKEN.42]}';
    const m = synthManifests(
      testProps({
        image: { repository: token, digest: token },
        nodes: { ...testNodes(), cpuLimit: token, memoryLimit: token },
      }),
    );
    expect(containerOf(m).image).toBe(`${token}@${token}`);
    expect(only(m, 'NodePool').spec.limits).toEqual({ cpu: token, memory: token });
  });
});
