/**
 * The counter aggregator in the synthesized template (the app's default, counting from
 * the table's stream): the table's stream, the Lambda and its event source mapping (job
 * records only, batch and window, retries, on-failure queue), its least-privilege grants,
 * its alarms, and JOBS_COUNTERS=stream for every Lambda and the workers. And with
 * `counting: 'inline'`: no stream, no aggregator.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { JobsStack } from '../lib/jobs-stack';
import { FIXTURE_LAMBDA_DIR } from './support/paths';
import { joinedText, Json, one, refOf, resourcesOf, template } from './support/template';

const [tableId, table] = one('AWS::DynamoDB::Table', 'JobsTable');
const [fnId, fn] = one('AWS::Lambda::Function', 'CounterAggregatorFunction');
const [dlqId] = one('AWS::SQS::Queue', 'CounterAggregatorDeadLetterQueue');
const [, mapping] = one('AWS::Lambda::EventSourceMapping', 'CounterAggregatorFunction');

test('the table has a stream with new and old images', () => {
  expect(table.Properties.StreamSpecification).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
});

test('every Lambda counts from the stream, and so do the workers', () => {
  for (const [id, f] of resourcesOf('AWS::Lambda::Function')) {
    const vars = f.Properties.Environment?.Variables;
    if (vars?.JOBS_TABLE_NAME) expect({ id, counting: vars.JOBS_COUNTERS }).toEqual({ id, counting: 'stream' });
  }
  expect(fn.Properties.Architectures).toEqual(['arm64']);
  expect(fn.Properties.Environment.Variables.JOBS_COUNTERS).toBe('stream');
  const manifests = resourcesOf('Custom::AWSCDK-EKS-KubernetesResource').map(([, r]) => joinedText(r.Properties.Manifest));
  const worker = manifests.filter((m) => m.includes('"JOBS_TABLE_NAME"'));
  expect(worker.length).toBeGreaterThan(0);
  for (const m of worker) expect(m).toContain('{"name":"JOBS_COUNTERS","value":"stream"}');
});

test('the event source mapping delivers job records of the stream in batches, retries, then parks the position', () => {
  const p = mapping.Properties;
  expect(refOf(p.FunctionName)).toBe(fnId);
  expect(p.EventSourceArn).toEqual({ 'Fn::GetAtt': [tableId, 'StreamArn'] });
  expect(p.StartingPosition).toBe('TRIM_HORIZON');
  expect(p.BatchSize).toBe(1000);
  expect(p.MaximumBatchingWindowInSeconds).toBe(1);
  // A tumbling window makes each event name its shard: the checkpoint's key.
  expect(p.TumblingWindowInSeconds).toBe(60);
  expect(p.MaximumRetryAttempts).toBe(10);
  expect(p.BisectBatchOnFunctionError).toBe(false);
  expect(p.ParallelizationFactor).toBe(1);
  expect(p.FunctionResponseTypes).toBeUndefined();
  expect(p.DestinationConfig.OnFailure.Destination).toEqual({ 'Fn::GetAtt': [dlqId, 'Arn'] });
  const filters = p.FilterCriteria.Filters.map((f: Json) => JSON.parse(f.Pattern));
  expect(filters).toEqual([{ dynamodb: { Keys: { pk: { S: [{ prefix: 'JOB#' }] } } } }]);
});

test('alarms on the iterator age and on batches parked in the dead-letter queue', () => {
  const alarms = resourcesOf('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  const age = alarms.find((a) => a.MetricName === 'IteratorAge');
  expect(age).toBeDefined();
  expect(age.Namespace).toBe('AWS/Lambda');
  expect(age.Statistic).toBe('Maximum');
  expect(age.Threshold).toBe(300000);
  expect(refOf(age.Dimensions[0].Value)).toBe(fnId);
  const parked = alarms.find(
    (a) => a.MetricName === 'ApproximateNumberOfMessagesVisible' && JSON.stringify(a.Dimensions).includes(dlqId),
  );
  expect(parked?.Threshold).toBe(0);
});

test("counting 'inline' deploys no stream and no aggregator, and tells every Lambda so", () => {
  const app = new App();
  const stack = new JobsStack(app, 'Inline', {
    lambdaDir: FIXTURE_LAMBDA_DIR,
    imageTag: 'inline-test',
    counting: 'inline',
    clusterEndpointPrivate: true,
  });
  const t = Template.fromStack(stack).toJSON();
  const resources = Object.entries(t.Resources as Record<string, Json>);
  const tables = resources.filter(([, r]) => r.Type === 'AWS::DynamoDB::Table');
  expect(tables).toHaveLength(1);
  expect(tables[0][1].Properties.StreamSpecification).toBeUndefined();
  expect(resources.filter(([, r]) => r.Type === 'AWS::Lambda::EventSourceMapping')).toHaveLength(0);
  expect(resources.some(([id]) => id.startsWith('CounterAggregator'))).toBe(false);
  for (const [, r] of resources.filter(([, r]) => r.Type === 'AWS::Lambda::Function')) {
    const vars = r.Properties.Environment?.Variables;
    if (vars?.JOBS_TABLE_NAME) expect(vars.JOBS_COUNTERS).toBe('inline');
  }
  // The shared synth is untouched by this one.
  expect(template().Resources[tableId]).toBeDefined();
});
