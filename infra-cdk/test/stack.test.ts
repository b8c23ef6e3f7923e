/**
 * Assertions on the synthesized template: routes and their authorization,
 * the Lambdas' runtime (each role's grants: grants.test.ts), queues, table, Scheduler,
 * the pod identities, the chart on the cluster, and that nothing in the
 * template belongs to one account or region.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import { allListingIndexes, loadQueueSettings } from '../lib/queue-settings';
import { loadThrottleSettings } from '../lib/throttle-settings';
import { REPO_DIR } from './support/paths';
import { grantsOfRole, joinedText, Json, one, refOf, resourcesOf, statementsOfRole, template } from './support/template';

const settings = loadQueueSettings();
const [queueId] = one('AWS::SQS::Queue', 'QueuesQueue');
const [dlqId] = one('AWS::SQS::Queue', 'QueuesDeadLetterQueue');
const [scheduleDlqId] = one('AWS::SQS::Queue', 'QueuesScheduleDeadLetterQueue');
const [tableId, table] = one('AWS::DynamoDB::Table', 'JobsTable');
const [schedulerRoleId] = one('AWS::IAM::Role', 'SchedulerExecutionRole');
const arn = (id: string) => JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] });

/** The routes of the local router, read from its source: `.route("/path", get(..).delete(..))`. */
function localRoutes(): string[] {
  const source = readFileSync(join(REPO_DIR, 'lambdas', 'src', 'routes', 'mod.rs'), 'utf8');
  const routes: string[] = [];
  for (const m of source.matchAll(/\.route\(\s*"([^"]+)",\s*([^;]*?)\)\s*(?=\n\s*(?:\.route|\}|$))/g)) {
    for (const method of m[2].matchAll(/(?:^|\.)\s*(get|post|put|patch|delete)\(/g)) {
      routes.push(`${method[1].toUpperCase()} ${m[1]}`);
    }
  }
  return routes.sort();
}

describe('API', () => {
  const routes = resourcesOf('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);

  test('every route of the local router is on the HTTP API, and nothing else', () => {
    const local = localRoutes();
    expect(local.length).toBeGreaterThanOrEqual(8);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(local);
  });

  test('every route requires IAM authorization', () => {
    for (const route of routes) {
      expect({ route: route.RouteKey, auth: route.AuthorizationType }).toEqual({ route: route.RouteKey, auth: 'AWS_IAM' });
    }
  });

  test('each route goes to the Lambda of its route group', () => {
    const integrations = Object.fromEntries(resourcesOf('AWS::ApiGatewayV2::Integration'));
    const fnOf = (route: Json) => {
      const integrationId = refOf(route.Target['Fn::Join'][1][1])!;
      return refOf(integrations[integrationId].Properties.IntegrationUri)!;
    };
    const group = (key: string) =>
      key.includes('/jobs/stats') ? 'StatsApi' : key.includes('/jobs/schedule') ? 'SchedulesApi' : 'JobsApi';
    for (const route of routes) {
      expect(`${route.RouteKey} -> ${fnOf(route).replace(/Function.*/, '')}`).toBe(`${route.RouteKey} -> ${group(route.RouteKey)}`);
    }
  });

  test('the stage throttles and writes JSON access logs', () => {
    const [, stage] = one('AWS::ApiGatewayV2::Stage', 'ApiStage');
    expect(stage.Properties.StageName).toBe('$default');
    // The stage default from settings/throttles.json (test/throttles.test.ts checks the routes').
    const { stage: defaults } = loadThrottleSettings();
    expect(stage.Properties.DefaultRouteSettings).toEqual({ ThrottlingBurstLimit: defaults.burstLimit, ThrottlingRateLimit: defaults.rateLimit });
    const format = JSON.parse(stage.Properties.AccessLogSettings.Format);
    expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status', routeKey: '$context.routeKey' });
    expect(refOf(stage.Properties.AccessLogSettings.DestinationArn)).toMatch(/^ApiAccessLogs/);
  });
});

describe('Lambdas', () => {
  const functions = ['JobsApiFunction', 'StatsApiFunction', 'SchedulesApiFunction'].map((p) => one('AWS::Lambda::Function', p));

  test('are arm64 on provided.al2023 with the bootstrap handler and their own log groups', () => {
    for (const [id, fn] of functions) {
      expect({ id, ...pick(fn.Properties, ['Architectures', 'Runtime', 'Handler']) }).toEqual({
        id,
        Architectures: ['arm64'],
        Runtime: 'provided.al2023',
        Handler: 'bootstrap',
      });
      expect(refOf(fn.Properties.LoggingConfig.LogGroup)).toMatch(/Logs/);
    }
  });

  test('get the configuration contract: queue, table, schedule group, scheduler role, queue and DLQ ARNs', () => {
    for (const [, fn] of functions) {
      const env = fn.Properties.Environment.Variables;
      expect(refOf(env.JOBS_QUEUE_URL)).toBe(queueId);
      expect(JSON.stringify(env.JOBS_QUEUE_ARN)).toBe(arn(queueId));
      expect(refOf(env.JOBS_TABLE_NAME)).toBe(tableId);
      expect(JSON.stringify(env.JOBS_SCHEDULER_ROLE_ARN)).toBe(arn(schedulerRoleId));
      expect(JSON.stringify(env.JOBS_SCHEDULE_DLQ_ARN)).toBe(arn(scheduleDlqId));
      expect(env.JOBS_SCHEDULE_GROUP).toBe('JobsApi');
    }
  });


});

describe('Scheduler', () => {
  test('the group is the one the Lambdas are told about', () => {
    const [, group] = one('AWS::Scheduler::ScheduleGroup', 'SchedulerGroup');
    expect(group.Properties.Name).toBe('JobsApi');
  });

  test('the execution role may only send to the job queue and the schedule DLQ, and only Scheduler of this group may assume it', () => {
    expect(grantsOfRole(schedulerRoleId)).toEqual([`sqs:SendMessage ${arn(queueId)}`, `sqs:SendMessage ${arn(scheduleDlqId)}`].sort());
    const trust = template().Resources[schedulerRoleId].Properties.AssumeRolePolicyDocument.Statement;
    expect(trust).toHaveLength(1);
    expect(trust[0].Principal).toEqual({ Service: 'scheduler.amazonaws.com' });
    expect(trust[0].Condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    expect(refOf(trust[0].Condition.ArnEquals['aws:SourceArn'])).toMatch(/^SchedulerGroup/);
  });
});

describe('queues', () => {
  const queue = (id: string) => template().Resources[id].Properties;

  test('every queue is encrypted at rest and refuses plain HTTP', () => {
    const queues = resourcesOf('AWS::SQS::Queue');
    // The job queue, its DLQ, the Scheduler DLQ, Karpenter's interruption queue, the counter aggregator's DLQ.
    expect(queues.length).toBe(5);
    const policies = resourcesOf('AWS::SQS::QueuePolicy').map(([, p]) => p.Properties);
    for (const [id, q] of queues) {
      expect({ id, sse: q.Properties.SqsManagedSseEnabled }).toEqual({ id, sse: true });
      const denyHttp = policies
        .filter((p) => p.Queues.some((r: Json) => r.Ref === id))
        .flatMap((p) => p.PolicyDocument.Statement)
        .find((s: Json) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false');
      expect({ id, denyHttp: Boolean(denyHttp) }).toEqual({ id, denyHttp: true });
    }
  });

  test('the job queue redrives to its DLQ after the shared maxReceiveCount, with the shared visibility timeout', () => {
    expect(queue(queueId).RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
      maxReceiveCount: settings.maxReceiveCount,
    });
    expect(queue(queueId).VisibilityTimeout).toBe(settings.visibilityTimeoutSecs);
    const retention = settings.deadLetterRetentionDays * 86_400;
    expect(queue(dlqId).MessageRetentionPeriod).toBe(retention);
    expect(queue(scheduleDlqId).MessageRetentionPeriod).toBe(retention);
  });
});

describe('table', () => {
  test('on demand, point-in-time recovery, deletion protection, retained, encrypted, shaped as the store uses it', () => {
    const p = table.Properties;
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(p.DeletionProtectionEnabled).toBe(true);
    expect(table.DeletionPolicy).toBe('Retain');
    expect(p.SSESpecification).toEqual({ SSEEnabled: true });
    expect(p.KeySchema).toEqual([{ AttributeName: settings.table.partitionKey, KeyType: 'HASH' }]);
    const listing = settings.table.listingIndexes;
    expect(p.AttributeDefinitions).toEqual(
      expect.arrayContaining(
        [settings.table.partitionKey, listing.sortKey, ...allListingIndexes(listing).map((index) => index.partitionKey)].map(
          (name) => ({ AttributeName: name, AttributeType: 'S' }),
        ),
      ),
    );
    expect(p.TimeToLiveSpecification).toEqual({ AttributeName: settings.table.timeToLiveAttribute, Enabled: true });
  });

  test('the table has exactly the open-jobs index and the listing indexes of queue.json', () => {
    const listing = settings.table.listingIndexes;
    expect(table.Properties.GlobalSecondaryIndexes.map((index: Json) => index.IndexName).sort()).toEqual(
      ['open-jobs', listing.byTime.name, listing.byStatus.name, listing.bySubmitter.name].sort(),
    );
  });

  test('GET /jobs has its three listing indexes (by time, status, submitter), sorted by listSk, holding only what a row shows', () => {
    const listing = settings.table.listingIndexes;
    expect(table.Properties.GlobalSecondaryIndexes).toEqual(
      expect.arrayContaining(
        allListingIndexes(listing).map((index) => ({
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' },
            { AttributeName: listing.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: listing.projected },
        })),
      ),
    );
    // Heartbeats change only the lease: no index holds it, so they write no index.
    expect(listing.projected).not.toContain('leaseExpiresAt');
    // A listed row shows who submitted the job.
    expect(listing.projected).toContain('submittedBy');
  });
});

describe('open-jobs index', () => {
  test('a sparse, keys-only index on the attributes only open jobs carry (job-core store), as local provisioning makes it', () => {
    const p = table.Properties;
    expect(p.GlobalSecondaryIndexes).toEqual(
      expect.arrayContaining([
      {
        IndexName: 'open-jobs',
        KeySchema: [
          { AttributeName: 'openShard', KeyType: 'HASH' },
          { AttributeName: 'openUpdatedAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
      ]),
    );
    expect(p.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'openShard', AttributeType: 'S' },
        { AttributeName: 'openUpdatedAt', AttributeType: 'N' },
      ]),
    );
    // The Rust side names the same index and attributes.
    const store = readFileSync(join(REPO_DIR, 'job-core', 'src', 'store', 'dynamodb.rs'), 'utf8');
    for (const name of ['"open-jobs"', '"openShard"', '"openUpdatedAt"']) {
      expect(store).toContain(name);
    }
  });
});

describe('reconciler', () => {
  const [fnId, fn] = one('AWS::Lambda::Function', 'ReconcilerFunction');

  test('runs the reconciler bundle on arm64 with the DLQ URL and a timeout longer than a pass', () => {
    expect(fn.Properties.Architectures).toEqual(['arm64']);
    expect(refOf(fn.Properties.Environment.Variables.JOBS_DLQ_URL)).toBe(dlqId);
    expect(refOf(fn.Properties.Environment.Variables.JOBS_QUEUE_URL)).toBe(queueId);
    expect(fn.Properties.Timeout).toBeGreaterThanOrEqual(60);
  });

  test('an EventBridge Scheduler rate() schedule invokes it through a role that may invoke only it', () => {
    const [, schedule] = one('AWS::Scheduler::Schedule', 'ReconcilerSchedule');
    expect(schedule.Properties.ScheduleExpression).toBe('rate(1 minute)');
    expect(JSON.stringify(schedule.Properties.Target.Arn)).toBe(arn(fnId));
    const schedulerRoleOfReconciler = refOf(schedule.Properties.Target.RoleArn) ?? schedule.Properties.Target.RoleArn['Fn::GetAtt'][0];
    expect(grantsOfRole(schedulerRoleOfReconciler)).toEqual([`lambda:InvokeFunction ${arn(fnId)}`]);
    const trust = template().Resources[schedulerRoleOfReconciler].Properties.AssumeRolePolicyDocument.Statement;
    expect(trust[0].Principal).toEqual({ Service: 'scheduler.amazonaws.com' });
  });
});

describe('images', () => {
  test('the repository scans on push, has immutable tags and a lifecycle policy', () => {
    const [, repo] = one('AWS::ECR::Repository', 'WorkerImages');
    expect(repo.Properties.ImageScanningConfiguration).toEqual({ ScanOnPush: true });
    expect(repo.Properties.ImageTagMutability).toBe('IMMUTABLE');
    const rules = JSON.parse(repo.Properties.LifecyclePolicy.LifecyclePolicyText).rules;
    expect(rules.map((r: Json) => r.selection.tagStatus)).toEqual(['untagged', 'any']);
  });
});

describe('pod identities', () => {
  const association = (namespace: string, serviceAccount: string) => {
    const found = resourcesOf('AWS::EKS::PodIdentityAssociation').filter(
      ([, a]) => a.Properties.Namespace === namespace && a.Properties.ServiceAccount === serviceAccount,
    );
    expect(found).toHaveLength(1);
    const roleId = refOf(found[0][1].Properties.RoleArn)!;
    return { roleId, props: found[0][1].Properties };
  };

  test('the KEDA operator may only read the job queue attributes', () => {
    const { roleId } = association('keda', 'keda-operator');
    expect(grantsOfRole(roleId)).toEqual([`sqs:GetQueueAttributes ${arn(queueId)}`]);
  });

  test('each role trusts only Pod Identity, for its own service account of this cluster', () => {
    for (const [ns, sa] of [['jobs', 'data-processor'], ['keda', 'keda-operator'], ['kube-system', 'karpenter'], ['amazon-cloudwatch', 'cloudwatch-agent']]) {
      const { roleId, props } = association(ns, sa);
      expect(refOf(props.ClusterName)).toMatch(/^Cluster/);
      const trust = template().Resources[roleId].Properties.AssumeRolePolicyDocument.Statement;
      expect(trust).toEqual([
        {
          Effect: 'Allow',
          Principal: { Service: 'pods.eks.amazonaws.com' },
          Action: ['sts:AssumeRole', 'sts:TagSession'],
          Condition: {
            StringEquals: {
              'aws:RequestTag/eks-cluster-name': 'JobsApi',
              'aws:RequestTag/kubernetes-namespace': ns,
              'aws:RequestTag/kubernetes-service-account': sa,
            },
          },
        },
      ]);
    }
  });
});

describe('IAM everywhere', () => {
  const allStatements = (): [string, Json][] => {
    const out: [string, Json][] = [];
    for (const [id, r] of Object.entries(template().Resources)) {
      const docs = r.Type === 'AWS::IAM::Policy' ? [r.Properties.PolicyDocument] : r.Type === 'AWS::IAM::Role' ? (r.Properties.Policies ?? []).map((p: Json) => p.PolicyDocument) : [];
      for (const doc of docs) for (const s of doc.Statement) out.push([id, s]);
    }
    return out;
  };
  const asList = (x: Json) => (Array.isArray(x) ? x : [x]);

  test('no statement allows a "*" action or a service-wide "service:*" action', () => {
    for (const [id, s] of allStatements()) {
      for (const action of asList(s.Action)) {
        expect({ id, action }).not.toEqual({ id, action: expect.stringMatching(/(^|:)\*$/) });
      }
    }
  });

  test('a "*" resource appears only for actions that support no resource-level permissions', () => {
    const star = allStatements()
      .filter(([, s]) => asList(s.Resource).includes('*'))
      .flatMap(([, s]) => asList(s.Action))
      .sort();
    expect(star).toEqual(
      [
        // schedules-api lists them; the reconciler lists them to count missed runs.
        'scheduler:ListSchedules',
        'scheduler:ListSchedules',
        'pricing:GetProducts',
        // The stream event source mapping of the counter aggregator.
        'dynamodb:ListStreams',
        ...['DescribeCapacityReservations', 'DescribeImages', 'DescribeInstances', 'DescribeInstanceStatus', 'DescribeInstanceTypeOfferings', 'DescribeInstanceTypes', 'DescribeLaunchTemplates', 'DescribePlacementGroups', 'DescribeSecurityGroups', 'DescribeSpotPriceHistory', 'DescribeSubnets'].map((a) => `ec2:${a}`),
        // Karpenter: listing instance profiles; the zonal-shift status, scoped by a condition on the cluster.
        'iam:ListInstanceProfiles',
        'arc-zonal-shift:GetManagedResource',
      ].sort(),
    );
  });
});

describe('cluster', () => {
  const [, cluster] = one('AWS::EKS::Cluster', 'Cluster');

  test('EKS with control plane logs, encrypted secrets, and a Graviton system node group', () => {
    expect(cluster.Properties.Name).toBe('JobsApi');
    expect(cluster.Properties.Logging.ClusterLogging.EnabledTypes.map((t: Json) => t.Type).sort()).toEqual(
      ['api', 'audit', 'authenticator', 'controllerManager', 'scheduler'],
    );
    expect(cluster.Properties.EncryptionConfig[0].Resources).toEqual(['secrets']);
    const [, nodes] = one('AWS::EKS::Nodegroup', 'ClusterNodegroupSystem');
    expect(nodes.Properties.InstanceTypes).toEqual(['t4g.medium']);
    expect(nodes.Properties.AmiType).toBe('BOTTLEROCKET_ARM_64');
  });

  test('add-ons: Pod Identity agent, VPC CNI with network policy, CloudWatch observability', () => {
    const addons = Object.fromEntries(resourcesOf('AWS::EKS::Addon').map(([, a]) => [a.Properties.AddonName, a.Properties]));
    expect(Object.keys(addons).sort()).toEqual(['amazon-cloudwatch-observability', 'eks-pod-identity-agent', 'vpc-cni']);
    expect(JSON.parse(addons['vpc-cni'].ConfigurationValues)).toEqual({ enableNetworkPolicy: 'true' });
  });

  test('KEDA and Karpenter come from Helm at the versions of the CRDs the chart is checked against', () => {
    const charts = Object.fromEntries(resourcesOf('Custom::AWSCDK-EKS-HelmChart').map(([, c]) => [c.Properties.Chart, c.Properties]));
    const crds = readFileSync(join(REPO_DIR, '..', 'shared', 'crds', 'README.md'), 'utf8');
    const kedaTag = crds.match(/## KEDA[\s\S]*?Tag: `v([\d.]+)`/)![1];
    const karpenterTag = crds.match(/## Karpenter[\s\S]*?Tag: `v([\d.]+)`/)![1];
    expect(charts.keda).toMatchObject({ Repository: 'https://kedacore.github.io/charts', Version: kedaTag, Namespace: 'keda' });
    expect(charts.karpenter).toMatchObject({ Repository: 'oci://public.ecr.aws/karpenter/karpenter', Version: karpenterTag, Namespace: 'kube-system' });
    const values = JSON.parse(joinedText(charts.karpenter.Values).replace(/<<[^>]*>>/g, 'X'));
    expect(values.settings.clusterName).toBe('JobsApi');
    expect(joinedText(charts.karpenter.Values)).toContain(`<<GetAtt:${one('AWS::SQS::Queue', 'KarpenterInterruptionQueue')[0]}.QueueName>>`);
  });

  test('Karpenter: interruption rules feed its queue; its nodes have an EC2_LINUX access entry', () => {
    const [interruptionId] = one('AWS::SQS::Queue', 'KarpenterInterruptionQueue');
    const rules = resourcesOf('AWS::Events::Rule').map(([, r]) => r.Properties);
    expect(rules.map((r) => r.EventPattern['detail-type'][0]).sort()).toEqual(
      ['AWS Health Event', 'EC2 Instance Rebalance Recommendation', 'EC2 Instance State-change Notification', 'EC2 Spot Instance Interruption Warning'],
    );
    for (const rule of rules) expect(JSON.stringify(rule.Targets[0].Arn)).toBe(arn(interruptionId));
    const [nodeRoleId] = one('AWS::IAM::Role', 'KarpenterNodeRole');
    const entries = resourcesOf('AWS::EKS::AccessEntry').map(([, e]) => e.Properties);
    expect(entries.find((e) => JSON.stringify(e.PrincipalArn) === arn(nodeRoleId))?.Type).toBe('EC2_LINUX');
  });

  test('the Karpenter controller launches, tags and deletes only what is tagged for this cluster', () => {
    const { roleId } = { roleId: refOf(one('AWS::EKS::PodIdentityAssociation', 'KarpenterControllerIdentity')[1].Properties.RoleArn)! };
    const statements = statementsOfRole(roleId);
    for (const s of statements.filter((s) => s.actions.some((a) => /^ec2:(RunInstances|CreateFleet|CreateLaunchTemplate|CreateTags|TerminateInstances|DeleteLaunchTemplate)$/.test(a)))) {
      const launchable = s.resources.every((r) => /::(image|snapshot)\/|:(security-group|subnet|capacity-reservation|placement-group)\//.test(joinedText(r)));
      if (!launchable) expect(JSON.stringify(s.conditions)).toContain('kubernetes.io/cluster/JobsApi');
    }
    const passRole = statements.find((s) => s.actions.includes('iam:PassRole'))!;
    expect(passRole.resources.map((r) => refOf(r))).toEqual([one('AWS::IAM::Role', 'KarpenterNodeRole')[0]]);
  });

  test('private subnets and the job node security group carry the discovery tag the EC2NodeClass selects by', () => {
    const tagged = (type: string) =>
      resourcesOf(type).filter(([, r]) => (r.Properties.Tags ?? []).some((t: Json) => t.Key === 'karpenter.sh/discovery' && t.Value === 'JobsApi'));
    expect(tagged('AWS::EC2::Subnet').map(([id]) => id).sort()).toEqual(
      resourcesOf('AWS::EC2::Subnet').map(([id]) => id).filter((id) => id.includes('nodes')).sort(),
    );
    expect(tagged('AWS::EC2::SecurityGroup').map(([id]) => id)).toEqual([one('AWS::EC2::SecurityGroup', 'ClusterJobNodeSecurityGroup')[0]]);
  });
});

describe('the job worker chart on the cluster', () => {
  const [, manifestResource] = one('Custom::AWSCDK-EKS-KubernetesResource', 'ClusterWorkers');
  const manifests: Json[] = JSON.parse(joinedText(manifestResource.Properties.Manifest));
  const kind = (k: string) => {
    const found = manifests.filter((m) => m.kind === k);
    expect(found).toHaveLength(1);
    return found[0];
  };

  test('holds the chart objects', () => {
    expect(manifests.map((m) => m.kind).sort()).toEqual(
      ['EC2NodeClass', 'Namespace', 'NetworkPolicy', 'NodePool', 'ScaledJob', 'ServiceAccount', 'TriggerAuthentication'].sort(),
    );
  });

  test('the ScaledJob watches the real queue, in the stack region, and the worker gets the real queue and table', () => {
    const scaledJob = kind('ScaledJob');
    const trigger = scaledJob.spec.triggers[0];
    expect(trigger.type).toBe('aws-sqs-queue');
    expect(trigger.metadata.queueURL).toBe(`<<Ref:${queueId}>>`);
    expect(trigger.metadata.awsRegion).toBe('<<Ref:AWS::Region>>');
    const env = Object.fromEntries(scaledJob.spec.jobTargetRef.template.spec.containers[0].env.map((e: Json) => [e.name, e.value]));
    expect(env).toMatchObject({
      JOBS_QUEUE_URL: `<<Ref:${queueId}>>`,
      JOBS_TABLE_NAME: `<<Ref:${tableId}>>`,
      AWS_REGION: '<<Ref:AWS::Region>>',
      JOBS_VISIBILITY_TIMEOUT_SECS: String(settings.visibilityTimeoutSecs),
    });
    const [repoId] = one('AWS::ECR::Repository', 'WorkerImages');
    expect(scaledJob.spec.jobTargetRef.template.spec.containers[0].image).toContain(repoId);
    expect(scaledJob.spec.jobTargetRef.template.spec.containers[0].image).toMatch(/:0\.1\.0-test$/);
  });

  test('the EC2NodeClass uses the Karpenter node role and the discovery tag of this cluster', () => {
    const nodeClass = kind('EC2NodeClass');
    expect(nodeClass.spec.role).toBe(`<<Ref:${one('AWS::IAM::Role', 'KarpenterNodeRole')[0]}>>`);
    expect(JSON.stringify(nodeClass.spec.subnetSelectorTerms)).toContain('"karpenter.sh/discovery":"JobsApi"');
    expect(JSON.stringify(nodeClass.spec.securityGroupSelectorTerms)).toContain('"karpenter.sh/discovery":"JobsApi"');
  });

  test('is applied after KEDA, Karpenter and the worker pod identity', () => {
    const dependsOn = manifestResource.DependsOn ?? [];
    for (const prefix of ['ClusterchartKeda', 'ClusterchartKarpenter', 'WorkersWorkerIdentityAssociation']) {
      expect(dependsOn.some((d: string) => d.startsWith(prefix))).toBe(true);
    }
  });
});

describe('portability', () => {
  const text = JSON.stringify(template());

  test('no account id, region or ARN literal in the template', () => {
    expect(text.match(/\b\d{12}\b/g) ?? []).toEqual([]);
    expect(text.match(/\b(?:us|eu|ap|sa|ca|me|af|il|mx)(?:-gov)?-(?:east|west|north|south|central|northeast|northwest|southeast|southwest)-\d\b/g) ?? []).toEqual([]);
    expect(text.match(/arn:aws[a-z-]*:/g) ?? []).toEqual([]);
  });

  test('the stack outputs what a user needs', () => {
    expect(Object.keys(template().Outputs ?? {}).sort()).toEqual(
      ['ApiUrl', 'ClusterName', 'DashboardUrl', 'KubeconfigCommand', 'QueueUrl', 'RepositoryUri', 'TableName'],
    );
  });
});

function pick(o: Json, keys: string[]): Json {
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}
