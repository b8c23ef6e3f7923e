/**
 * One Rust Lambda binary (a `lambda_http` + axum router) on provided.al2023,
 * arm64, with its own log group and retention.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { lambdaBundle } from './lambda-bundles';

/** Props of {@link RustFunction}. */
export interface RustFunctionProps {
  /** The cargo binary name (`jobs-api`, ...). */
  readonly binary: string;
  /** Directory holding `<binary>/bootstrap.zip`. */
  readonly bundleDir: string;
  /** The shared JOBS_* environment. */
  readonly environment: Record<string, string>;
  /** What the function is for. */
  readonly description: string;
  /** @default 256 MiB (also buys CPU for TLS start-up) */
  readonly memorySize?: number;
  /** @default 10 s (API Gateway waits at most 30 s; every AWS call of the code has its own operation timeout, 15 s by default) */
  readonly timeout?: Duration;
  /** Log retention. @default one month */
  readonly logRetention?: logs.RetentionDays;
}

export class RustFunction extends Construct {
  public readonly function: lambda.Function;
  /** The function's execution role. */
  public readonly role: iam.Role;
  /** The function's log group (its JSON log lines feed the metric filters). */
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RustFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role instead of the AWSLambdaBasicExecutionRole managed policy: writing to
    // its own log group is all the runtime needs; route permissions are added per function.
    this.role = new iam.Role(this, 'Role', {
      description: `Lambda ${props.binary}`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    this.logGroup.grantWrite(this.role);
    this.function = new lambda.Function(this, 'Function', {
      role: this.role,
      description: props.description,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(lambdaBundle(props.bundleDir, props.binary)),
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(10),
      environment: props.environment,
      logGroup: this.logGroup,
      // Text format: the binaries already write one JSON object per line, which
      // CloudWatch parses as is; Lambda's own REPORT lines stay plain text.
      loggingFormat: lambda.LoggingFormat.TEXT,
    });
  }
}
