/**
 * The deploy role's stack: trusted only by one repository's runs in one
 * environment through GitHub's OIDC provider, allowed only to assume the CDK
 * bootstrap roles, read the app stack and push to its tagged repository; it
 * passes cdk-nag; the context values are checked; and the workflow deploys
 * only from that environment and from main.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parse } from 'yaml';
import { ContextError, readDeployConfig } from '../lib/app-config';
import { DeployRoleStack } from '../lib/deploy/deploy-role';
import { STACK_TAG } from '../lib/images/worker-repository';
import { REPO_DIR, SYNTH_DIR } from './support/paths';
import { Json, one, template } from './support/template';

function synthesized(props: { oidcProviderArn?: string } = {}): Json {
  const app = new App({ outdir: join(SYNTH_DIR, 'deploy-role') });
  new DeployRoleStack(app, 'JobsApi-Deploy', { appStackName: 'JobsApi', repository: 'acme/jobs', environment: 'prod', ...props });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  // cdk-nag runs here: an unacknowledged finding throws.
  return app.synth().getStackByName('JobsApi-Deploy').template;
}

const resources = (t: Json, type: string) => Object.values(t.Resources as Record<string, Json>).filter((r) => r.Type === type);

test('trust: only runs of acme/jobs in environment prod, through the OIDC provider, for STS', () => {
  const t = synthesized();
  const [provider] = resources(t, 'AWS::IAM::OIDCProvider');
  expect(provider.Properties.Url).toBe('https://token.actions.githubusercontent.com');
  expect(provider.Properties.ClientIdList).toEqual(['sts.amazonaws.com']);
  const [role] = resources(t, 'AWS::IAM::Role');
  const [statement, ...others] = role.Properties.AssumeRolePolicyDocument.Statement;
  expect(others).toEqual([]);
  expect(statement.Action).toBe('sts:AssumeRoleWithWebIdentity');
  expect(statement.Condition).toEqual({
    StringEquals: {
      'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
      'token.actions.githubusercontent.com:sub': 'repo:acme/jobs:environment:prod',
    },
  });
});

test('an existing provider is used instead of a new one', () => {
  const t = synthesized({ oidcProviderArn: 'arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com' });
  expect(resources(t, 'AWS::IAM::OIDCProvider')).toEqual([]);
});

test('grants: the bootstrap roles, the app stack, the registry login, and pushes to the tagged repository only', () => {
  const t = synthesized();
  const [policy] = resources(t, 'AWS::IAM::Policy');
  const statements = policy.Properties.PolicyDocument.Statement.map((s: Json) => ({
    sid: s.Sid,
    actions: [s.Action].flat().sort(),
    resource: JSON.stringify(s.Resource),
    condition: s.Condition,
  }));
  expect(statements.map((s: Json) => s.sid).sort()).toEqual(['AssumeCdkBootstrapRoles', 'EcrLogin', 'PushWorkerImages', 'ReadAppStackOutputs']);
  const bySid = (sid: string) => statements.find((s: Json) => s.sid === sid);
  expect(bySid('AssumeCdkBootstrapRoles').actions).toEqual(['sts:AssumeRole', 'sts:TagSession']);
  expect(bySid('AssumeCdkBootstrapRoles').resource).toContain(':role/cdk-hnb659fds-*');
  expect(bySid('ReadAppStackOutputs').actions).toEqual(['cloudformation:DescribeStacks']);
  expect(bySid('ReadAppStackOutputs').resource).toContain(':stack/JobsApi/*');
  expect(bySid('EcrLogin').actions).toEqual(['ecr:GetAuthorizationToken']);
  expect(bySid('PushWorkerImages').condition).toEqual({ StringEquals: { [`aws:ResourceTag/${STACK_TAG}`]: 'JobsApi' } });
  expect(bySid('PushWorkerImages').actions.every((a: string) => a.startsWith('ecr:'))).toBe(true);
  expect(bySid('PushWorkerImages').actions).not.toContain('ecr:DeleteRepository');
});

test('the app stack tags its worker repository as the deploy role expects', () => {
  const [, repository] = one('AWS::ECR::Repository', 'WorkerImages');
  expect(repository.Properties.Tags).toContainEqual({ Key: STACK_TAG, Value: 'JobsApi' });
  // The shared app synth has no githubRepository: no deploy stack beside the app.
  expect(Object.keys(template().Resources).some((id) => id.startsWith('GitHubDeploy'))).toBe(false);
});

test('context: githubRepository must be owner/name; without it there is no deploy stack', () => {
  const node = (context: Record<string, string>) => new App({ context }).node;
  expect(readDeployConfig(node({}), 'JobsApi')).toBeUndefined();
  expect(readDeployConfig(node({ githubRepository: 'acme/jobs', githubEnvironment: 'prod' }), 'JobsApi')).toMatchObject({
    stackName: 'JobsApi-Deploy',
    repository: 'acme/jobs',
    environment: 'prod',
  });
  expect(() => readDeployConfig(node({ githubRepository: 'jobs' }), 'JobsApi')).toThrow(ContextError);
  expect(() => readDeployConfig(node({ githubRepository: 'jobs' }), 'JobsApi')).toThrow(/githubRepository.*owner\/name/);
});

test('the workflow deploys only in the aws environment and only from main', () => {
  const workflow = parse(readFileSync(join(REPO_DIR, '.github', 'workflows', 'deploy.yml'), 'utf8'));
  const job = workflow.jobs.deploy;
  expect(job.environment).toBe('aws');
  expect(job.if).toContain("github.ref == 'refs/heads/main'");
  expect(job.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
});
