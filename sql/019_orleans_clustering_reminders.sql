-- 019: Orleans cluster membership and reminders in PostgreSQL, for Microsoft.Orleans.Clustering.AdoNet and
-- Microsoft.Orleans.Reminders.AdoNet (invariant Npgsql). The providers run only the statements they load from
-- OrleansQuery (key, text), binding @-named parameters and reading result columns by name. The tables and texts
-- below are written from the documented schema and parameter contract of the providers; the packages ship no scripts.

-- The providers load their statements with the unquoted SELECT QueryKey, QueryText FROM OrleansQuery, which
-- PostgreSQL folds to lower case: the table and its two columns must be named exactly like this.
CREATE TABLE orleansquery (
    querykey  text PRIMARY KEY,
    querytext text NOT NULL
);

-- One row per cluster (the DeploymentId parameter is the ClusterId). Every change of membership rows, except
-- the heartbeat, must move version on by one, and only from the version the caller read: it is the table etag.
CREATE TABLE orleans_membership_version (
    deployment_id text        PRIMARY KEY,
    version       integer     NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per silo incarnation; (address, port, generation) is the SiloAddress. status is the SiloStatus
-- number (3 = Active, 6 = Dead); suspect_times is an opaque text the provider encodes, stored as given.
CREATE TABLE orleans_membership (
    deployment_id   text        NOT NULL REFERENCES orleans_membership_version (deployment_id),
    address         text        NOT NULL,
    port            integer     NOT NULL,
    generation      integer     NOT NULL,
    silo_name       text        NOT NULL,
    host_name       text        NOT NULL,
    status          integer     NOT NULL,
    proxy_port      integer     NOT NULL,
    suspect_times   text,
    start_time      timestamptz NOT NULL,
    i_am_alive_time timestamptz NOT NULL,
    PRIMARY KEY (deployment_id, address, port, generation)
);

-- One row per reminder. grain_hash is the uniform hash of the grain as a signed 32-bit number (the provider sends
-- it that way), period is in milliseconds, version is the etag of the reminder.
CREATE TABLE orleans_reminders (
    service_id    text        NOT NULL,
    grain_id      text        NOT NULL,
    reminder_name text        NOT NULL,
    start_time    timestamptz NOT NULL,
    period        bigint      NOT NULL,
    grain_hash    integer     NOT NULL,
    version       integer     NOT NULL,
    PRIMARY KEY (service_id, grain_id, reminder_name)
);
CREATE INDEX orleans_reminders_ring ON orleans_reminders (service_id, grain_hash);

-- Each text is one statement. Result columns carry the exact names the providers read. Statements whose
-- answer the provider reads as a boolean return one row with one integer column (0 = refused, 1 = done).
-- Times arrive as timestamptz (Npgsql sends UTC DateTime parameters that way) and are stored as such.
INSERT INTO orleansquery (querykey, querytext) VALUES

-- Membership (Microsoft.Orleans.Clustering.AdoNet).

('InsertMembershipVersionKey', '
WITH created AS (
    INSERT INTO orleans_membership_version (deployment_id)
    VALUES (@DeploymentId)
    ON CONFLICT (deployment_id) DO NOTHING
    RETURNING 1
)
SELECT count(*)::integer AS "Created" FROM created'),

('MembershipReadAllKey', '
SELECT v.deployment_id   AS "DeploymentId",
       m.address         AS "Address",
       m.port            AS "Port",
       m.generation      AS "Generation",
       m.silo_name       AS "SiloName",
       m.host_name       AS "HostName",
       m.status          AS "Status",
       m.proxy_port      AS "ProxyPort",
       m.suspect_times   AS "SuspectTimes",
       m.start_time      AS "StartTime",
       m.i_am_alive_time AS "IAmAliveTime",
       v.version         AS "Version"
FROM orleans_membership_version v
LEFT JOIN orleans_membership m ON m.deployment_id = v.deployment_id
WHERE v.deployment_id = @DeploymentId'),

('MembershipReadRowKey', '
SELECT v.deployment_id   AS "DeploymentId",
       m.address         AS "Address",
       m.port            AS "Port",
       m.generation      AS "Generation",
       m.silo_name       AS "SiloName",
       m.host_name       AS "HostName",
       m.status          AS "Status",
       m.proxy_port      AS "ProxyPort",
       m.suspect_times   AS "SuspectTimes",
       m.start_time      AS "StartTime",
       m.i_am_alive_time AS "IAmAliveTime",
       v.version         AS "Version"
FROM orleans_membership_version v
LEFT JOIN orleans_membership m
       ON m.deployment_id = v.deployment_id
      AND m.address = @Address
      AND m.port = @Port
      AND m.generation = @Generation
WHERE v.deployment_id = @DeploymentId'),

('InsertMembershipKey', '
WITH bumped AS (
    UPDATE orleans_membership_version
    SET version = version + 1, updated_at = now()
    WHERE deployment_id = @DeploymentId
      AND version = @Version
      AND NOT EXISTS (SELECT 1 FROM orleans_membership
                      WHERE deployment_id = @DeploymentId AND address = @Address
                        AND port = @Port AND generation = @Generation)
    RETURNING deployment_id
), inserted AS (
    INSERT INTO orleans_membership (deployment_id, address, port, generation, silo_name, host_name,
                                    status, proxy_port, start_time, i_am_alive_time)
    SELECT deployment_id, @Address, @Port, @Generation, @SiloName, @HostName,
           @Status, @ProxyPort, @StartTime, @IAmAliveTime
    FROM bumped
    RETURNING 1
)
SELECT count(*)::integer AS "Inserted" FROM inserted'),

('UpdateMembershipKey', '
WITH bumped AS (
    UPDATE orleans_membership_version
    SET version = version + 1, updated_at = now()
    WHERE deployment_id = @DeploymentId
      AND version = @Version
      AND EXISTS (SELECT 1 FROM orleans_membership
                  WHERE deployment_id = @DeploymentId AND address = @Address
                    AND port = @Port AND generation = @Generation)
    RETURNING deployment_id
), updated AS (
    UPDATE orleans_membership m
    SET status = @Status, suspect_times = @SuspectTimes, i_am_alive_time = @IAmAliveTime
    FROM bumped
    WHERE m.deployment_id = bumped.deployment_id
      AND m.address = @Address AND m.port = @Port AND m.generation = @Generation
    RETURNING 1
)
SELECT count(*)::integer AS "Updated" FROM updated'),

('UpdateIAmAlivetimeKey', '
UPDATE orleans_membership
SET i_am_alive_time = @IAmAliveTime
WHERE deployment_id = @DeploymentId
  AND address = @Address AND port = @Port AND generation = @Generation'),

('GatewaysQueryKey', '
SELECT address AS "Address", proxy_port AS "ProxyPort", generation AS "Generation"
FROM orleans_membership
WHERE deployment_id = @DeploymentId
  AND status = @Status
  AND proxy_port > 0'),

('CleanupDefunctSiloEntriesKey', '
DELETE FROM orleans_membership
WHERE deployment_id = @DeploymentId
  AND i_am_alive_time < @IAmAliveTime
  AND status <> 3'),

('DeleteMembershipTableEntriesKey', '
WITH silos_gone AS (
    DELETE FROM orleans_membership WHERE deployment_id = @DeploymentId
)
DELETE FROM orleans_membership_version WHERE deployment_id = @DeploymentId'),

-- Reminders (Microsoft.Orleans.Reminders.AdoNet).

('ReadReminderRowsKey', '
SELECT grain_id AS "GrainId", reminder_name AS "ReminderName", start_time AS "StartTime",
       period AS "Period", version AS "Version"
FROM orleans_reminders
WHERE service_id = @ServiceId AND grain_id = @GrainId'),

('ReadReminderRowKey', '
SELECT grain_id AS "GrainId", reminder_name AS "ReminderName", start_time AS "StartTime",
       period AS "Period", version AS "Version"
FROM orleans_reminders
WHERE service_id = @ServiceId AND grain_id = @GrainId AND reminder_name = @ReminderName'),

-- The provider picks Rows1 when BeginHash < EndHash (as signed numbers): the range (Begin, End].
('ReadRangeRows1Key', '
SELECT grain_id AS "GrainId", reminder_name AS "ReminderName", start_time AS "StartTime",
       period AS "Period", version AS "Version"
FROM orleans_reminders
WHERE service_id = @ServiceId
  AND grain_hash > @BeginHash AND grain_hash <= @EndHash'),

-- Otherwise the range wraps around the ring: above BeginHash or up to EndHash.
('ReadRangeRows2Key', '
SELECT grain_id AS "GrainId", reminder_name AS "ReminderName", start_time AS "StartTime",
       period AS "Period", version AS "Version"
FROM orleans_reminders
WHERE service_id = @ServiceId
  AND (grain_hash > @BeginHash OR grain_hash <= @EndHash)'),

('UpsertReminderRowKey', '
INSERT INTO orleans_reminders AS r (service_id, grain_id, reminder_name, start_time, period, grain_hash, version)
VALUES (@ServiceId, @GrainId, @ReminderName, @StartTime, @Period, @GrainHash, 0)
ON CONFLICT (service_id, grain_id, reminder_name) DO UPDATE
SET start_time = excluded.start_time,
    period     = excluded.period,
    grain_hash = excluded.grain_hash,
    version    = r.version + 1
RETURNING r.version AS "Version"'),

('DeleteReminderRowKey', '
WITH removed AS (
    DELETE FROM orleans_reminders
    WHERE service_id = @ServiceId AND grain_id = @GrainId
      AND reminder_name = @ReminderName AND version = @Version
    RETURNING 1
)
SELECT count(*)::integer AS "Deleted" FROM removed'),

('DeleteReminderRowsKey', '
DELETE FROM orleans_reminders WHERE service_id = @ServiceId');

GRANT SELECT ON orleansquery TO escrow_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON orleans_membership_version, orleans_membership, orleans_reminders TO escrow_app;
