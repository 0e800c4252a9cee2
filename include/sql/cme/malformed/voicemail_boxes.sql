-- Malformed rows of GC_ANNEX and the DN, Agent Login and Agent Group tables that
-- cme/voicemail_boxes reads (the tenant's 'TServer'/'gvm_mailbox' options and their objects,
-- whatever their dates: configuration is small), one row per problem; see
-- include/sql/gim/malformed/agent_sessions.sql for how a value that is not a number is found.
-- A deletion before the creation is impossible; it is reported by the day that would read it
-- (created before the day's end and deleted after its start). A value that is not a mailbox
-- number is no box by the metric's rule (docs/metrics.md), not a malformed row.
WITH options AS (
    SELECT 'GC_ANNEX' AS source_table, 'ID ' || CAST(a.ID AS TEXT) AS row_key, a.CREATED_TS, a.DELETED_TS
    FROM GC_ANNEX a
    WHERE a.TENANTID = :tenant_id AND a.SECTIONNAME = 'TServer' AND a.KEYNAME = 'gvm_mailbox'
),
objects AS (
    SELECT 'GC_ENDPOINT' AS source_table, 'ID ' || CAST(o.ID AS TEXT) AS row_key, o.CREATED_TS, o.DELETED_TS
    FROM GC_ENDPOINT o JOIN GC_ANNEX a ON a.CFGOBJECTTYPE = 2 AND a.CFGOBJECTID = o.ID
    WHERE o.TENANTID = :tenant_id AND a.TENANTID = :tenant_id AND a.SECTIONNAME = 'TServer' AND a.KEYNAME = 'gvm_mailbox'
    UNION ALL
    SELECT 'GC_LOGIN', 'ID ' || CAST(o.ID AS TEXT), o.CREATED_TS, o.DELETED_TS
    FROM GC_LOGIN o JOIN GC_ANNEX a ON a.CFGOBJECTTYPE = 15 AND a.CFGOBJECTID = o.ID
    WHERE o.TENANTID = :tenant_id AND a.TENANTID = :tenant_id AND a.SECTIONNAME = 'TServer' AND a.KEYNAME = 'gvm_mailbox'
    UNION ALL
    SELECT 'GC_GROUP', 'ID ' || CAST(o.ID AS TEXT), o.CREATED_TS, o.DELETED_TS
    FROM GC_GROUP o JOIN GC_ANNEX a ON a.CFGOBJECTTYPE = 5 AND a.CFGOBJECTID = o.ID
    WHERE o.TYPE = 1 AND o.TENANTID = :tenant_id AND a.TENANTID = :tenant_id AND a.SECTIONNAME = 'TServer' AND a.KEYNAME = 'gvm_mailbox'
),
dated AS (
    SELECT source_table, row_key, CREATED_TS, DELETED_TS FROM options
    UNION ALL
    SELECT source_table, row_key, CREATED_TS, DELETED_TS FROM objects
)
SELECT source_table, row_key, 'CREATED_TS' AS column_name, CAST(CREATED_TS AS TEXT) AS found, 'not a number of seconds' AS problem
FROM dated WHERE CREATED_TS > 9223372036854775807
UNION ALL
SELECT source_table, row_key, 'CREATED_TS', NULL, 'missing'
FROM dated WHERE CREATED_TS IS NULL
UNION ALL
SELECT source_table, row_key, 'DELETED_TS', CAST(DELETED_TS AS TEXT), 'not a number of seconds'
FROM dated WHERE DELETED_TS > 9223372036854775807
UNION ALL
SELECT source_table, row_key, 'DELETED_TS', CAST(DELETED_TS AS TEXT),
       'deleted before it was created (CREATED_TS ' || CAST(CREATED_TS AS TEXT) || ')'
FROM dated
WHERE DELETED_TS < CREATED_TS AND CREATED_TS < :day_end AND DELETED_TS > :day_start
  AND CREATED_TS <= 9223372036854775807
