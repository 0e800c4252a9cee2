-- Malformed rows of SDR_BOTS_FACT that gim/bot_sessions reads for the billing day (the bot
-- sessions of the tenant's interactions from lookback_start to the day's end plus its
-- look-ahead), one row per problem; see agent_sessions.sql beside this file for how a value
-- that is not a number is found. A negative duration would take bot time off its
-- interaction. An interaction (INTERACTION_FACT) whose partition key is not a number takes
-- all its bot sessions out of every day: every day names it. Parameters as in bot_sessions.sql.
-- The bot sessions are read once, and only those with a problem are tied to the tenant's
-- interactions.
WITH problems AS (
    SELECT
        b.SESSION_ID || ' #' || CAST(b.SEQUENCE_ID AS VARCHAR(255)) AS row_id, b.INTERACTION_ID,
        b.START_DATE_TIME_KEY, b.START_TS_MS, b.DURATION_MS
    FROM SDR_BOTS_FACT b
    WHERE
        (
            b.START_DATE_TIME_KEY >= :lookback_start AND b.START_DATE_TIME_KEY < :lookahead_end
            OR b.START_DATE_TIME_KEY > 9223372036854775807
        )
        AND (
            b.START_TS_MS >= :lookback_start_ms AND b.START_TS_MS < :lookahead_end_ms
            OR b.START_TS_MS IS NULL OR b.START_TS_MS > 9223372036854775807
        )
        AND (
            b.START_DATE_TIME_KEY > 9223372036854775807 OR b.START_TS_MS IS NULL OR b.START_TS_MS > 9223372036854775807
            OR b.DURATION_MS IS NULL OR b.DURATION_MS > 9223372036854775807 OR b.DURATION_MS < 0
        )
),

scope AS (
    SELECT p.row_id, p.START_DATE_TIME_KEY, p.START_TS_MS, p.DURATION_MS
    FROM problems p
    JOIN INTERACTION_FACT f ON f.MEDIA_SERVER_IXN_GUID = p.INTERACTION_ID
    JOIN TENANT t ON t.TENANT_KEY = f.TENANT_KEY
    WHERE t.TENANT_CFG_DBID = :tenant_id AND f.START_DATE_TIME_KEY >= :lookback_start AND f.START_DATE_TIME_KEY < :day_end
)

SELECT
    'SDR_BOTS_FACT' AS source_table, 'SESSION_ID ' || row_id AS row_key,
    'START_DATE_TIME_KEY' AS column_name, CAST(START_DATE_TIME_KEY AS VARCHAR(255)) AS found, 'not a number' AS problem
FROM scope WHERE START_DATE_TIME_KEY > 9223372036854775807
UNION ALL
SELECT 'SDR_BOTS_FACT', 'SESSION_ID ' || row_id, 'START_TS_MS', NULL, 'missing'
FROM scope WHERE START_TS_MS IS NULL
UNION ALL
SELECT 'SDR_BOTS_FACT', 'SESSION_ID ' || row_id, 'START_TS_MS', CAST(START_TS_MS AS VARCHAR(255)), 'not a number of milliseconds'
FROM scope WHERE START_TS_MS > 9223372036854775807
UNION ALL
SELECT 'SDR_BOTS_FACT', 'SESSION_ID ' || row_id, 'DURATION_MS', NULL, 'missing'
FROM scope WHERE DURATION_MS IS NULL
UNION ALL
SELECT 'SDR_BOTS_FACT', 'SESSION_ID ' || row_id, 'DURATION_MS', CAST(DURATION_MS AS VARCHAR(255)), 'not a number of milliseconds'
FROM scope WHERE DURATION_MS > 9223372036854775807
UNION ALL
SELECT 'SDR_BOTS_FACT', 'SESSION_ID ' || row_id, 'DURATION_MS', CAST(DURATION_MS AS VARCHAR(255)), 'a negative duration'
FROM scope WHERE DURATION_MS < 0
UNION ALL
SELECT
    'INTERACTION_FACT', 'INTERACTION_ID ' || CAST(f.INTERACTION_ID AS VARCHAR(255)), 'START_DATE_TIME_KEY',
    CAST(f.START_DATE_TIME_KEY AS VARCHAR(255)), 'not a number'
FROM INTERACTION_FACT f JOIN TENANT t ON t.TENANT_KEY = f.TENANT_KEY
WHERE :typeless = 1 AND t.TENANT_CFG_DBID = :tenant_id AND f.START_DATE_TIME_KEY > 9223372036854775807
