/**
 * cdk-nag: the whole app passed AwsSolutionsChecks in the shared synth (a
 * finding fails it). Here: the checks really run (an unacknowledged finding
 * fails a synth), and every acknowledgment is on a construct that exists and
 * says why; under the JWT authorizer the app passes too, its public routes (and only
 * they) acknowledged as open.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readAppConfig } from '../lib/app-config';
import { JobsStack } from '../lib/jobs-stack';
import { acknowledgeFindings, nagAcknowledgments, PUBLIC_ROUTE_REASON } from '../lib/nag-acknowledgments';
import { loadPermissionSettings } from '../lib/permission-settings';
import { CDK_OUT, SYNTH_DIR } from './support/paths';
import { BASE_CONTEXT } from './support/stack';

const NAG_ACKNOWLEDGMENTS = nagAcknowledgments('JobsApi');

test('an unacknowledged finding fails synth', () => {
  const app = new App({ outdir: join(SYNTH_DIR, 'nag-probe') });
  const stack = new Stack(app, 'Probe');
  new sqs.Queue(stack, 'PlainQueue', { encryption: sqs.QueueEncryption.UNENCRYPTED });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  expect(() => app.synth()).toThrow();
});

test('every acknowledgment is recorded on its construct in the app synth', () => {
  const metadata: Record<string, { type: string; data: Record<string, string> }[]> = JSON.parse(
    readFileSync(join(CDK_OUT, 'JobsApi.metadata.json'), 'utf8'),
  );
  const recorded = Object.entries(metadata).flatMap(([path, entries]) =>
    entries
      .filter((e) => e.type === 'aws:cdk:acknowledged-rules')
      .flatMap((e) => Object.entries(e.data).map(([id, reason]) => `${path} ${id.replace(/^(Annotation|CloudFormation-Validate)::/, '')} ${reason}`)),
  );
  for (const ack of NAG_ACKNOWLEDGMENTS) {
    expect(recorded).toContain(`/JobsApi/${ack.path} ${ack.id.replace(/^(Annotation|CloudFormation-Validate)::/, '')} ${ack.reason}`);
  }
});

test('every acknowledgment has a reason a reviewer can check', () => {
  for (const ack of NAG_ACKNOWLEDGMENTS) {
    expect({ id: ack.id, long: ack.reason.length >= 40 }).toEqual({ id: ack.id, long: true });
  }
});

test('an acknowledgment for a construct that is gone fails loudly', () => {
  const stack = new Stack(new App(), 'Empty');
  expect(() => acknowledgeFindings(stack, [{ path: 'Nope/Resource', id: 'AwsSolutions-SQS3', reason: 'x'.repeat(50) }])).toThrow(
    /Nope\/Resource, which is not in the stack/,
  );
});

test('under the JWT authorizer the app passes the checks: the public routes, and only they, acknowledged as open', () => {
  const context = { ...BASE_CONTEXT, apiAuth: 'jwt', jwtIssuer: 'https://id.example.com', jwtAudience: 'jobs' };
  const outdir = join(SYNTH_DIR, 'nag-jwt');
  const app = new App({ outdir, context });
  new JobsStack(app, 'JobsApi', readAppConfig(app.node).props);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  const metadata: Record<string, { type: string; data: Record<string, string> }[]> = JSON.parse(
    readFileSync(join(outdir, 'JobsApi.metadata.json'), 'utf8'),
  );
  const open = Object.entries(metadata)
    .filter(([, entries]) =>
      entries.some((e) => e.type === 'aws:cdk:acknowledged-rules' && e.data['Annotation::AwsSolutions-APIG4'] === PUBLIC_ROUTE_REASON),
    )
    .map(([path]) => path)
    .sort();
  // A route's construct id is its method and path with each "/" as "--" (GET /a/b: GET--a--b).
  const publicRoutes = Object.entries(loadPermissionSettings().routes)
    .filter(([, access]) => access === 'public')
    .map(([key]) => `/JobsApi/Api/HttpApi/${key.replace(' ', '').replace(/\//g, '--')}/Resource`)
    .sort();
  expect(publicRoutes.length).toBeGreaterThan(0);
  expect(open).toEqual(publicRoutes);
});

test('a stack of another name passes the checks too: the acknowledgments follow its schedule group', () => {
  const app = new App({ outdir: join(SYNTH_DIR, 'nag-named'), context: { ...BASE_CONTEXT } });
  const stack = new JobsStack(app, 'TeamJobs', readAppConfig(app.node).props);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  expect(() => app.synth()).not.toThrow();
  expect(nagAcknowledgments(stack.stackName).some((a) => a.id.includes('schedule/TeamJobs/*'))).toBe(true);
});
