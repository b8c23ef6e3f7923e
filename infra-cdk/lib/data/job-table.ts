/** The DynamoDB table of jobs and counters, shaped as job-core's store uses it. */
import { RemovalPolicy, Tags } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { allListingIndexes, QueueSettings } from '../queue-settings';

/** Props of {@link JobTable}. */
export interface JobTableProps {
  /** Key and TTL attribute names. */
  readonly settings: QueueSettings;
  /** What happens to the table when it leaves the stack. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** DynamoDB deletion protection. @default true */
  readonly deletionProtection?: boolean;
  /** Point-in-time recovery (35 days of continuous backups). @default true */
  readonly pointInTimeRecovery?: boolean;
  /**
   * How the counters are booked, recorded on the table as its tag `jobs:counting`
   * (every process reads it at start and follows it): `stream` also gives the table a
   * stream with new and old images, for the counter aggregator. @default 'stream'
   */
  readonly counting?: 'stream' | 'inline';
}

/** The table tag that records the counting mode (job-core's `counting::mode::COUNTING_TAG`). */
export const COUNTING_TAG = 'jobs:counting';

/**
 * On-demand table with one string partition key; jobs and counter shards are
 * items of it. Day counters expire through the TTL attribute. Three global
 * secondary indexes list jobs newest first (all, of one status, or of one submitter).
 */
export class JobTable extends Construct {
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: JobTableProps) {
    super(scope, id);
    const counting = props.counting ?? 'stream';
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: props.settings.table.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: props.settings.table.timeToLiveAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true },
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      // The AWS managed key (aws/dynamodb): encrypted at rest with a KMS key and an
      // audit trail, usable by every role the stack grants, no key policy to keep.
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      stream: counting === 'stream' ? dynamodb.StreamViewType.NEW_AND_OLD_IMAGES : undefined,
    });
    Tags.of(this.table).add(COUNTING_TAG, counting);
    // The sparse index of open jobs: only jobs that are not terminal carry its keys
    // (job-core's store); the reconciler queries it for stale ones. Keys only.
    this.table.addGlobalSecondaryIndex({
      indexName: 'open-jobs',
      partitionKey: { name: 'openShard', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'openUpdatedAt', type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });
    // The listing indexes of GET /jobs: write-sharded partitions (JOBS#<n>, <STATUS>#<n>,
    // the submitter's) sorted newest first by listSk; INCLUDE keeps heartbeats (lease
    // attributes) off them.
    const listing = props.settings.table.listingIndexes;
    for (const index of allListingIndexes(listing)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: listing.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.INCLUDE,
        nonKeyAttributes: listing.projected,
      });
    }
  }
}
