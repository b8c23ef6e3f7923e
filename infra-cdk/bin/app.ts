#!/usr/bin/env node
/**
 * The CDK app: one env-agnostic stack with the whole system, checked by
 * cdk-nag's AwsSolutions rules (an unacknowledged finding fails synth).
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readAppConfig } from '../lib/app-config';
import { JobsStack } from '../lib/jobs-stack';

const app = new App();
const config = readAppConfig(app.node);
new JobsStack(app, config.stackName, {
  analyticsReporting: false,
  ...config.props,
  description: 'Job API: HTTP API and Rust Lambdas, SQS, DynamoDB, EventBridge Scheduler, EKS with KEDA and Karpenter',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
