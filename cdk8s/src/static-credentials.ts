/**
 * Static AWS credentials in a Secret, for clusters outside AWS (kind against
 * LocalStack) where there is no pod identity: the worker reads them as
 * environment variables and KEDA through a TriggerAuthentication's
 * `secretTargetRef`. Never for a real account: use pod identity there.
 */
import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { requireNonEmpty } from './worker-settings';

/** Secret keys, named after the environment variables the AWS SDKs read. */
export const ACCESS_KEY_ID_KEY = 'AWS_ACCESS_KEY_ID';
export const SECRET_ACCESS_KEY_KEY = 'AWS_SECRET_ACCESS_KEY';

/** Static credentials (an emulator's test keys). */
export interface StaticCredentialsOptions {
  /** Access key id. */
  readonly accessKeyId: string;
  /** Secret access key. */
  readonly secretAccessKey: string;
  /** Name of the Secret holding them. @default `<appName>-aws-credentials` */
  readonly secretName?: string;
}

/** Props of {@link StaticCredentialsSecret}. */
export interface StaticCredentialsSecretProps extends StaticCredentialsOptions {
  /** Secret name. */
  readonly secretName: string;
  /** Namespace (the worker's). */
  readonly namespace: string;
  /** Ownership labels. */
  readonly labels: Record<string, string>;
}

/** An Opaque Secret with the two keys. */
export class StaticCredentialsSecret extends Construct {
  /** The Secret API object. */
  public readonly apiObject: ApiObject;
  /** Secret name, for secretKeyRef and secretTargetRef. */
  public readonly name: string;

  constructor(scope: Construct, id: string, props: StaticCredentialsSecretProps) {
    super(scope, id);
    requireNonEmpty('staticCredentials.accessKeyId', props.accessKeyId);
    requireNonEmpty('staticCredentials.secretAccessKey', props.secretAccessKey);
    requireNonEmpty('staticCredentials.secretName', props.secretName);
    this.name = props.secretName;
    this.apiObject = new k8s.KubeSecret(this, 'Resource', {
      metadata: { name: props.secretName, namespace: props.namespace, labels: props.labels },
      type: 'Opaque',
      stringData: { [ACCESS_KEY_ID_KEY]: props.accessKeyId, [SECRET_ACCESS_KEY_KEY]: props.secretAccessKey },
    });
  }
}
