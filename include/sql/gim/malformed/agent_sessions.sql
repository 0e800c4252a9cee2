-- Malformed rows of SM_RES_SESSION_FACT that gim/agent_sessions reads for the billing day:
-- the same partitions (the tenant's sessions that started since lookback_start and before the
-- day's end, and older ones still open or ended since the look-back), one row per problem.
-- The dataset query leaves every such row out; the extract fails on them, or counts and
-- reports them (sources.malformed_rows). Parameters as in agent_sessions.sql.
--
-- "Not a number": SQLite keeps whatever value it is given in any column, and compares a text
-- or blob value as greater than every number, so "> 9223372036854775807" (the largest 64-bit
-- integer) finds exactly those. A typed column (PostgreSQL's) never holds one: :typeless is 1
-- only on a database that keeps any value in any column, and a check that reads a table for
-- nothing but such values runs only there (PostgreSQL plans it away). Where the same rows are
-- read for other problems, the test rides along at no cost.
-- Each table is read once: the rows with a problem are found first, then named.
-- An end before the start is impossible; it is reported by every day between the two.
-- The rows that qualify or place a session are checked too: the start of what an agent
-- handled (INTERACTION_RESOURCE_FACT, read in the same partitions) and the dates of the
-- tenant's Agent Logins held by agents (GIDB_GCX_LOGIN_INFO); the query leaves such rows out.
WITH scope AS (
    SELECT
        s.SM_RES_SESSION_FACT_KEY AS row_id, s.START_DATE_TIME_KEY, s.START_TS, s.END_TS,
        CASE WHEN s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL THEN 0 ELSE 1 END AS closed
    FROM SM_RES_SESSION_FACT s
    WHERE
        s.TENANT_KEY IN (SELECT TENANT_KEY FROM TENANT WHERE TENANT_CFG_DBID = :tenant_id)
        AND (
            s.START_DATE_TIME_KEY >= :lookback_start AND s.START_DATE_TIME_KEY < :day_end
            OR s.START_DATE_TIME_KEY > 9223372036854775807
        )
    UNION ALL
    SELECT
        s.SM_RES_SESSION_FACT_KEY, s.START_DATE_TIME_KEY, s.START_TS, s.END_TS,
        CASE WHEN s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL THEN 0 ELSE 1 END
    FROM SM_RES_SESSION_FACT s
    WHERE
        s.TENANT_KEY IN (SELECT TENANT_KEY FROM TENANT WHERE TENANT_CFG_DBID = :tenant_id)
        AND s.START_DATE_TIME_KEY < :lookback_start
        AND (s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL OR s.END_DATE_TIME_KEY > :day_start - 900)
),

problems AS (
    SELECT row_id, START_DATE_TIME_KEY, START_TS, END_TS, closed
    FROM scope
    WHERE
        START_DATE_TIME_KEY > 9223372036854775807 OR START_TS IS NULL OR START_TS > 9223372036854775807
        OR closed = 1 AND (END_TS > 9223372036854775807 OR END_TS < START_TS AND END_TS < :day_end AND START_TS > :day_start)
)

SELECT
    'SM_RES_SESSION_FACT' AS source_table, 'SM_RES_SESSION_FACT_KEY ' || CAST(row_id AS VARCHAR(255)) AS row_key,
    'START_DATE_TIME_KEY' AS column_name, CAST(START_DATE_TIME_KEY AS VARCHAR(255)) AS found, 'not a number' AS problem
FROM problems WHERE START_DATE_TIME_KEY > 9223372036854775807
UNION ALL
SELECT
    'SM_RES_SESSION_FACT', 'SM_RES_SESSION_FACT_KEY ' || CAST(row_id AS VARCHAR(255)),
    'START_TS', NULL, 'missing'
FROM problems WHERE START_TS IS NULL
UNION ALL
SELECT
    'SM_RES_SESSION_FACT', 'SM_RES_SESSION_FACT_KEY ' || CAST(row_id AS VARCHAR(255)),
    'START_TS', CAST(START_TS AS VARCHAR(255)), 'not a number of seconds'
FROM problems WHERE START_TS > 9223372036854775807
UNION ALL
SELECT
    'SM_RES_SESSION_FACT', 'SM_RES_SESSION_FACT_KEY ' || CAST(row_id AS VARCHAR(255)),
    'END_TS', CAST(END_TS AS VARCHAR(255)), 'not a number of seconds'
FROM problems WHERE closed = 1 AND END_TS > 9223372036854775807
UNION ALL
SELECT
    'SM_RES_SESSION_FACT', 'SM_RES_SESSION_FACT_KEY ' || CAST(row_id AS VARCHAR(255)),
    'END_TS', CAST(END_TS AS VARCHAR(255)), 'ends before it starts (START_TS ' || CAST(START_TS AS VARCHAR(255)) || ')'
FROM problems
WHERE
    closed = 1 AND END_TS < START_TS AND END_TS < :day_end AND START_TS > :day_start
    AND START_TS <= 9223372036854775807
UNION ALL
SELECT
    'INTERACTION_RESOURCE_FACT', 'INTERACTION_RESOURCE_ID ' || CAST(irf.INTERACTION_RESOURCE_ID AS VARCHAR(255)),
    'START_TS', CAST(irf.START_TS AS VARCHAR(255)), 'not a number of seconds'
FROM INTERACTION_RESOURCE_FACT irf
WHERE
    :typeless = 1
    AND irf.TENANT_KEY IN (SELECT TENANT_KEY FROM TENANT WHERE TENANT_CFG_DBID = :tenant_id)
    AND irf.START_DATE_TIME_KEY >= :lookback_start AND irf.START_DATE_TIME_KEY < :day_end
    AND irf.START_TS > 9223372036854775807
UNION ALL
SELECT
    'GIDB_GCX_LOGIN_INFO', 'ID ' || CAST(li.ID AS VARCHAR(255)), 'CREATED_TS', CAST(li.CREATED_TS AS VARCHAR(255)),
    'not a number of seconds'
FROM GIDB_GCX_LOGIN_INFO li JOIN GIDB_GC_LOGIN lg ON lg.ID = li.LOGINID
WHERE :typeless = 1 AND lg.TENANTID = :tenant_id AND li.CREATED_TS > 9223372036854775807
UNION ALL
SELECT
    'GIDB_GCX_LOGIN_INFO', 'ID ' || CAST(li.ID AS VARCHAR(255)), 'DELETED_TS', CAST(li.DELETED_TS AS VARCHAR(255)),
    'not a number of seconds'
FROM GIDB_GCX_LOGIN_INFO li JOIN GIDB_GC_LOGIN lg ON lg.ID = li.LOGINID
WHERE :typeless = 1 AND lg.TENANTID = :tenant_id AND li.DELETED_TS > 9223372036854775807
