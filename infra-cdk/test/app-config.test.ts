/** Context values: defaults, checks with clear messages, and the missing-bundle error. */
import { mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { App, RemovalPolicy } from 'aws-cdk-lib';
import { lambdaBundle, MissingLambdaBundleError } from '../lib/api/lambda-bundles';
import { readAppConfig, workspaceVersion } from '../lib/app-config';

const config = (context: Record<string, unknown>) => readAppConfig(new App({ context }).node);

test('defaults: IAM auth, stack JobsApi, the workspace version as image tag, retained table', () => {
  const { stackName, props } = config({});
  expect(stackName).toBe('JobsApi');
  expect(props.apiAuthorization).toEqual({ type: 'iam' });
  expect(props.imageTag).toBe(workspaceVersion());
  expect(props.imageTag).toMatch(/^\d+\.\d+\.\d+/);
  expect(props.tableRemovalPolicy).toBe(RemovalPolicy.RETAIN);
  expect(props.missedRunGraceSecs).toBeUndefined();
  expect(config({ missedRunGraceSecs: '1800' }).props.missedRunGraceSecs).toBe(1800);
  expect(props.maxSchedules).toBeUndefined();
  expect(config({ maxSchedules: '250' }).props.maxSchedules).toBe(250);
});

test('apiAuth=jwt needs an https issuer and an audience', () => {
  expect(() => config({ apiAuth: 'jwt' })).toThrow(/jwtIssuer/);
  expect(() => config({ apiAuth: 'jwt', jwtIssuer: 'https://id.example.com' })).toThrow(/jwtAudience/);
  expect(config({ apiAuth: 'jwt', jwtIssuer: 'https://id.example.com', jwtAudience: 'a, b' }).props.apiAuthorization).toEqual({
    type: 'jwt',
    issuer: 'https://id.example.com',
    audience: ['a', 'b'],
  });
  expect(() => config({ apiAuth: 'basic' })).toThrow(/apiAuth: expected iam or jwt/);
});

test.each([
  [{ natGateways: '0' }, /natGateways/],
  [{ maxWorkers: 'many' }, /maxWorkers/],
  [{ tableRemovalPolicy: 'keep' }, /tableRemovalPolicy/],
  [{ tableDeletionProtection: 'yes' }, /tableDeletionProtection/],
  [{ stackName: '1bad name' }, /stackName/],
  [{ imageTag: 'has space' }, /imageTag/],
  [{ missedRunGraceSecs: '59' }, /missedRunGraceSecs: expected a whole number in \[60, 86400\]/],
  [{ missedRunGraceSecs: '15m' }, /missedRunGraceSecs/],
  [{ maxSchedules: '0' }, /maxSchedules: expected a whole number in \[1, 1000000\]/],
])('rejects %j', (context, message) => {
  expect(() => config(context)).toThrow(message);
});

test('a missing Lambda bundle names make lambdas', () => {
  const empty = mkdtempSync(join(tmpdir(), 'no-lambdas-'));
  expect(() => lambdaBundle(empty, 'jobs-api')).toThrow(MissingLambdaBundleError);
  expect(() => lambdaBundle(empty, 'jobs-api')).toThrow(/jobs-api\/bootstrap\.zip.*make lambdas/);
});
