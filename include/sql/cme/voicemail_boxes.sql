-- SIP voicemail boxes: DNs, Agent Logins and Agent Groups whose Annex has section
-- 'TServer', option 'gvm_mailbox', as Interaction Concentrator records the configuration
-- (GC_ANNEX and the object tables; same columns in Info Mart's GIDB_ copies).
--
-- A box exists while both the annex option and its object exist:
-- [later of the two CREATED_TS, earlier of the two DELETED_TS). Disabled objects
-- (STATE 2) still count: Genesys bills boxes "in either an active or inactive state".
-- CFGOBJECTTYPE follows Configuration Server's object types: 2 DN, 5 Agent Group,
-- 15 Agent Login. The mailbox number is checked in Python (a positive integer).
SELECT
    o.OBJECT_TYPE AS object_type,
    a.CFGOBJECTID AS object_id,
    a.VALUE AS mailbox,
    CASE WHEN o.CREATED_TS > a.CREATED_TS THEN o.CREATED_TS ELSE a.CREATED_TS END AS start_ts,
    CASE
        WHEN a.DELETED_TS IS NULL THEN o.DELETED_TS
        WHEN o.DELETED_TS IS NULL THEN a.DELETED_TS
        WHEN o.DELETED_TS < a.DELETED_TS THEN o.DELETED_TS
        ELSE a.DELETED_TS
    END AS end_ts
FROM GC_ANNEX a
JOIN (
    SELECT 2 AS CFGOBJECTTYPE, 'DN' AS OBJECT_TYPE, ID, TENANTID, CREATED_TS, DELETED_TS FROM GC_ENDPOINT
    UNION ALL
    SELECT 15, 'AGENT_LOGIN', ID, TENANTID, CREATED_TS, DELETED_TS FROM GC_LOGIN
    UNION ALL
    SELECT 5, 'AGENT_GROUP', ID, TENANTID, CREATED_TS, DELETED_TS FROM GC_GROUP WHERE TYPE = 1
) o ON o.CFGOBJECTTYPE = a.CFGOBJECTTYPE AND o.ID = a.CFGOBJECTID
WHERE
    a.TENANTID = :tenant_id
    AND o.TENANTID = :tenant_id
    AND a.SECTIONNAME = 'TServer'
    AND a.KEYNAME = 'gvm_mailbox'
    AND a.CREATED_TS < :day_end AND (a.DELETED_TS IS NULL OR a.DELETED_TS > :day_start)
    AND o.CREATED_TS < :day_end AND (o.DELETED_TS IS NULL OR o.DELETED_TS > :day_start)
    -- never a malformed row (see malformed/voicemail_boxes.sql): a deletion that is not a
    -- number (SQLite compares text above every number) or before the creation
    AND (a.DELETED_TS IS NULL OR a.DELETED_TS >= a.CREATED_TS AND a.DELETED_TS <= 9223372036854775807)
    AND (o.DELETED_TS IS NULL OR o.DELETED_TS >= o.CREATED_TS AND o.DELETED_TS <= 9223372036854775807)
