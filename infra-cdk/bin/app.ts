#!/usr/bin/env node
/**
 * The CDK app: one env-agnostic stack with the whole system (and, with
 * `-c githubRepository=owner/name`, the deploy role's small stack), checked by
 * cdk-nag's AwsSolutions rules (an unacknowledged finding fails synth).
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readAppConfig, readDeployConfig } from '../lib/app-config';
import { DeployRoleStack } from '../lib/deploy/deploy-role';
import { JobsStack } from '../lib/jobs-stack';

const app = new App();
const config = readAppConfig(app.node);
new JobsStack(app, config.stackName, {
  analyticsReporting: false,
  ...config.props,
  description: 'Job API: HTTP API and Rust Lambdas, SQS, DynamoDB, EventBridge Scheduler, EKS with KEDA and Karpenter',
});
// The role GitHub Actions deploys with, in a stack of its own (deploy it once by hand).
const deploy = readDeployConfig(app.node, config.stackName);
if (deploy) {
  new DeployRoleStack(app, deploy.stackName, {
    analyticsReporting: false,
    description: `Role the GitHub workflow of ${deploy.repository} deploys ${config.stackName} with`,
    appStackName: config.stackName,
    ...deploy,
  });
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
