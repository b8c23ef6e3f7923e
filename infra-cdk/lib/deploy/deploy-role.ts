/**
 * The role GitHub Actions deploys with: trusted through GitHub's OIDC provider
 * only for one repository's runs in one protected environment, and allowed only
 * what `scripts/deploy.sh` needs beyond `cdk deploy`: to assume the CDK bootstrap
 * roles (which deploy, publish assets and look up), to read the app stack's
 * outputs, and to push images to the repositories tagged as the app stack's.
 */
import { Aws, CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

import { acknowledgeFindings } from '../nag-acknowledgments';
import { STACK_TAG } from '../images/worker-repository';

/** GitHub's OIDC issuer. */
export const GITHUB_OIDC_ISSUER = 'token.actions.githubusercontent.com';

/** Props of {@link DeployRole}. */
export interface DeployRoleProps {
  /** `owner/name` of the GitHub repository whose workflow deploys. */
  readonly repository: string;
  /** The protected GitHub environment the deploy job runs in. @default 'aws' */
  readonly environment?: string;
  /** The app stack this role deploys (its outputs and its image repository). */
  readonly appStackName: string;
  /** The CDK bootstrap qualifier. @default 'hnb659fds' (CDK's default) */
  readonly bootstrapQualifier?: string;
  /** An existing GitHub OIDC provider (one per account); @default a new one */
  readonly oidcProviderArn?: string;
}

export class DeployRole extends Construct {
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: DeployRoleProps) {
    super(scope, id);
    if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(props.repository)) {
      throw new Error(`the deploy role's repository must be owner/name, got ${JSON.stringify(props.repository)}`);
    }
    const environment = props.environment ?? 'aws';
    if (!/^[A-Za-z0-9_.-]{1,255}$/.test(environment)) {
      throw new Error(`the deploy role's environment must be a GitHub environment name, got ${JSON.stringify(environment)}`);
    }
    const qualifier = props.bootstrapQualifier ?? 'hnb659fds';
    if (!/^[a-z0-9]{1,10}$/.test(qualifier)) {
      throw new Error(`the CDK bootstrap qualifier must be up to 10 lowercase letters and digits, got ${JSON.stringify(qualifier)}`);
    }
    const providerArn =
      props.oidcProviderArn ??
      new iam.OidcProviderNative(this, 'GitHubOidc', {
        url: `https://${GITHUB_OIDC_ISSUER}`,
        clientIds: ['sts.amazonaws.com'],
      }).oidcProviderArn;

    this.role = new iam.Role(this, 'Role', {
      description: `Deploys ${props.appStackName} from ${props.repository}, environment ${environment}`,
      maxSessionDuration: Duration.hours(2),
      assumedBy: new iam.WebIdentityPrincipal(providerArn, {
        StringEquals: {
          [`${GITHUB_OIDC_ISSUER}:aud`]: 'sts.amazonaws.com',
          // Only a job that runs in the protected environment gets this subject.
          [`${GITHUB_OIDC_ISSUER}:sub`]: `repo:${props.repository}:environment:${environment}`,
        },
      }),
    });
    const stack = Stack.of(this);
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'AssumeCdkBootstrapRoles',
        actions: ['sts:AssumeRole', 'sts:TagSession'],
        resources: [`arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/cdk-${qualifier}-*`],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadAppStackOutputs',
        actions: ['cloudformation:DescribeStacks'],
        resources: [stack.formatArn({ service: 'cloudformation', resource: 'stack', resourceName: `${props.appStackName}/*` })],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EcrLogin',
        // GetAuthorizationToken supports no resource-level permissions.
        actions: ['ecr:GetAuthorizationToken'],
        resources: ['*'],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PushWorkerImages',
        actions: [
          'ecr:BatchCheckLayerAvailability',
          'ecr:BatchGetImage',
          'ecr:CompleteLayerUpload',
          'ecr:DescribeImages',
          'ecr:InitiateLayerUpload',
          'ecr:PutImage',
          'ecr:UploadLayerPart',
        ],
        resources: [stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: '*' })],
        conditions: { StringEquals: { [`aws:ResourceTag/${STACK_TAG}`]: props.appStackName } },
      }),
    );
  }
}

/** Props of {@link DeployRoleStack}. */
export interface DeployRoleStackProps extends StackProps, DeployRoleProps {}

/** The deploy role in a small stack of its own, deployed once by hand before the workflow runs. */
export class DeployRoleStack extends Stack {
  constructor(scope: Construct, id: string, props: DeployRoleStackProps) {
    super(scope, id, props);
    const deploy = new DeployRole(this, 'GitHubDeploy', props);
    new CfnOutput(this, 'DeployRoleArn', {
      value: deploy.role.roleArn,
      description: 'Set it as the repository variable AWS_DEPLOY_ROLE_ARN',
    });
    const qualifier = props.bootstrapQualifier ?? 'hnb659fds';
    acknowledgeFindings(this, [
      {
        path: 'GitHubDeploy/Role/DefaultPolicy/Resource',
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-${qualifier}-*]`,
        reason: 'the CDK bootstrap roles (deploy, file and image publishing, lookup) of this qualifier, which cdk deploy assumes; their names end in the account and region',
      },
      {
        path: 'GitHubDeploy/Role/DefaultPolicy/Resource',
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ecr:GetAuthorizationToken (the registry login before a push) supports no resource-level permissions',
      },
      {
        path: 'GitHubDeploy/Role/DefaultPolicy/Resource',
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/${props.appStackName}/*]`,
        reason: 'the app stack by name; the suffix is the stack id CloudFormation assigns when it creates the stack',
      },
      {
        path: 'GitHubDeploy/Role/DefaultPolicy/Resource',
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/*]',
        reason: `pushes only to repositories tagged ${STACK_TAG} = the app stack (the worker image repository, whose name CDK generates)`,
      },
    ]);
  }
}
