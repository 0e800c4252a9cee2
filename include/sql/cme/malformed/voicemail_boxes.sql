-- Malformed rows of GC_ANNEX and the DN, Agent Login and Agent Group tables that
-- cme/voicemail_boxes reads (the tenant's 'TServer'/'gvm_mailbox' options joined to their
-- objects as that query joins them, whatever their dates: configuration is small), one row per
-- problem, each row once; see include/sql/gim/malformed/agent_sessions.sql for how a value
-- that is not a number is found. A deletion before the creation is impossible; it is reported
-- by every day between the two. A value that is not a mailbox number is no box by the
-- metric's rule (docs/metrics.md), not a malformed row.
WITH objects AS (
    SELECT 2 AS CFGOBJECTTYPE, 'GC_ENDPOINT' AS source_table, ID, TENANTID, CREATED_TS, DELETED_TS FROM GC_ENDPOINT
    UNION ALL
    SELECT 15, 'GC_LOGIN', ID, TENANTID, CREATED_TS, DELETED_TS FROM GC_LOGIN
    UNION ALL
    SELECT 5, 'GC_GROUP', ID, TENANTID, CREATED_TS, DELETED_TS FROM GC_GROUP WHERE TYPE = 1
),

boxes AS (
    SELECT
        a.ID AS annex_id, a.CREATED_TS AS annex_created, a.DELETED_TS AS annex_deleted,
        o.source_table, o.ID AS object_id, o.CREATED_TS AS object_created, o.DELETED_TS AS object_deleted
    FROM GC_ANNEX a
    JOIN objects o ON o.CFGOBJECTTYPE = a.CFGOBJECTTYPE AND o.ID = a.CFGOBJECTID
    WHERE
        a.TENANTID = :tenant_id AND o.TENANTID = :tenant_id
        AND a.SECTIONNAME = 'TServer' AND a.KEYNAME = 'gvm_mailbox'
),

dated AS (
    SELECT
        'GC_ANNEX' AS source_table, 'ID ' || CAST(annex_id AS VARCHAR(255)) AS row_key,
        annex_created AS CREATED_TS, annex_deleted AS DELETED_TS
    FROM boxes
    UNION  -- an object with two mailbox options is one row
    SELECT source_table, 'ID ' || CAST(object_id AS VARCHAR(255)), object_created, object_deleted
    FROM boxes
)

SELECT
    source_table, row_key, 'CREATED_TS' AS column_name, CAST(CREATED_TS AS VARCHAR(255)) AS found,
    'not a number of seconds' AS problem
FROM dated WHERE CREATED_TS > 9223372036854775807
UNION ALL
SELECT source_table, row_key, 'CREATED_TS', NULL, 'missing'
FROM dated WHERE CREATED_TS IS NULL
UNION ALL
SELECT source_table, row_key, 'DELETED_TS', CAST(DELETED_TS AS VARCHAR(255)), 'not a number of seconds'
FROM dated WHERE DELETED_TS > 9223372036854775807
UNION ALL
SELECT
    source_table, row_key, 'DELETED_TS', CAST(DELETED_TS AS VARCHAR(255)),
    'deleted before it was created (CREATED_TS ' || CAST(CREATED_TS AS VARCHAR(255)) || ')'
FROM dated
WHERE
    DELETED_TS < CREATED_TS AND DELETED_TS < :day_end AND CREATED_TS > :day_start
    AND CREATED_TS <= 9223372036854775807
