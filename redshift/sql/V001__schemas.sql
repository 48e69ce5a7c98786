-- V001: the warehouse's schemas, the Kafka (MSK) external schema the streaming MVs read, the procedures'
-- watermarks and the clock they share. Parameters (Redshift only, quoted literals): iam_role_arn, msk_cluster_arn.

-- staging: what arrives (streaming MVs or their local tables, backfill tables, change views, change logs, state)
-- and the procedures; analytics: the star schema people query.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS analytics;

-- [redshift]
-- Every topic of the MSK cluster becomes a relation msk_cdc."<topic>"; the streaming MVs (V002) read the JSON
-- bridge topics from it. IAM authentication (port 9098); the role needs kafka-cluster:Connect/DescribeTopic/
-- ReadData/AlterGroup/DescribeGroup and kafka:GetBootstrapBrokers.
CREATE EXTERNAL SCHEMA IF NOT EXISTS msk_cdc
FROM MSK
IAM_ROLE {{ iam_role_arn }}
AUTHENTICATION iam
CLUSTER_ARN {{ msk_cluster_arn }};
-- [end]

-- Per procedure target and MV partition, the last MV offset consumed (ADR 0010 decision 4). A procedure reads only
-- <table>_changes rows past its watermark and advances it in the same transaction as its writes.
CREATE TABLE IF NOT EXISTS staging.load_watermark (
  target VARCHAR(128) NOT NULL,
  kafka_partition INT NOT NULL,
  kafka_offset BIGINT NOT NULL,
  updated_at TIMESTAMP NOT NULL,
  PRIMARY KEY (target, kafka_partition)
);

-- The load time every procedure stamps (UTC, without time zone, like all warehouse timestamps). The one clock
-- expression that differs between the engines, so the procedure bodies need no dialect blocks.
-- [redshift]
CREATE OR REPLACE FUNCTION staging.f_utc_now()
RETURNS TIMESTAMP
VOLATILE
AS $$
  SELECT CAST(GETDATE() AS TIMESTAMP)
$$ LANGUAGE sql;
-- [postgres]
CREATE OR REPLACE FUNCTION staging.f_utc_now()
RETURNS TIMESTAMP
VOLATILE
AS $$
  SELECT CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP)
$$ LANGUAGE sql;
-- [end]
