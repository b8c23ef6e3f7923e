/**
 * The app's stack synthesized in the test process from context values, as `bin/app.ts`
 * reads them (`readAppConfig`), for what the shared synth's defaults do not show; each
 * takes a few seconds, so a test file makes the few it needs once.
 */
import { App } from 'aws-cdk-lib';
import { Template as Assertions } from 'aws-cdk-lib/assertions';
import { readAppConfig } from '../../lib/app-config';
import { JobsStack } from '../../lib/jobs-stack';
import { FIXTURE_LAMBDA_DIR } from './paths';
import { Json, Template } from './template';

/** What every such synth needs: the fixture bundles, a cluster endpoint choice, an image tag. */
export const BASE_CONTEXT: Readonly<Record<string, string>> = {
  lambdaDir: FIXTURE_LAMBDA_DIR,
  clusterEndpointPrivate: 'true',
  imageTag: 'context-test',
};

/** The template of stack `id` made from {@link BASE_CONTEXT} and `context`. */
export function templateFromContext(id: string, context: Record<string, unknown>): Template {
  const app = new App({ context: { ...BASE_CONTEXT, ...context } });
  const stack = new JobsStack(app, id, readAppConfig(app.node).props);
  return Assertions.fromStack(stack).toJSON() as Template;
}

/** [logicalId, resource] of every resource of `type` in `t`. */
export function resourcesIn(t: Template, type: string): [string, Json][] {
  return Object.entries(t.Resources).filter(([, r]) => r.Type === type);
}
