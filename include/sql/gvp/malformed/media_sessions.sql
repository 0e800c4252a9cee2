-- Malformed rows of GVP_CDR and GVP_SPEECH_SESSION that gvp/media_sessions reads for the
-- billing day (the tenant's calls that started since lookback_start and before the day's
-- end, and their ASR/TTS sessions), one row per problem; see
-- include/sql/gim/malformed/agent_sessions.sql for how a value that is not a number is
-- found. A call whose start is not a number cannot be placed in any day: every day reports it.
-- An end before the start is reported by every day between the two.
WITH calls AS (
    SELECT c.CDR_ID, c.START_TIME_MS
    FROM GVP_CDR c
    WHERE
        c.TENANT_ID = :tenant_id
        AND (
            c.START_TIME_MS >= :lookback_start_ms AND c.START_TIME_MS < :day_end_ms
            OR c.START_TIME_MS > 9223372036854775807
        )
),

speech AS (
    SELECT sp.SPEECH_SESSION_ID AS row_id, sp.START_TIME_MS, sp.END_TIME_MS
    FROM GVP_SPEECH_SESSION sp
    JOIN calls c ON c.CDR_ID = sp.CDR_ID
    WHERE
        sp.RESOURCE_TYPE IN ('ASR', 'TTS')
        AND (
            sp.START_TIME_MS >= :lookback_start_ms AND sp.START_TIME_MS < :day_end_ms
            OR sp.START_TIME_MS > 9223372036854775807 OR sp.START_TIME_MS IS NULL
        )
)

SELECT
    'GVP_CDR' AS source_table, 'CDR_ID ' || CAST(CDR_ID AS TEXT) AS row_key,
    'START_TIME_MS' AS column_name, CAST(START_TIME_MS AS TEXT) AS found, 'not a number of milliseconds' AS problem
FROM calls WHERE START_TIME_MS > 9223372036854775807
UNION ALL
SELECT 'GVP_SPEECH_SESSION', 'SPEECH_SESSION_ID ' || CAST(row_id AS TEXT), 'START_TIME_MS', NULL, 'missing'
FROM speech WHERE START_TIME_MS IS NULL
UNION ALL
SELECT
    'GVP_SPEECH_SESSION', 'SPEECH_SESSION_ID ' || CAST(row_id AS TEXT), 'START_TIME_MS', CAST(START_TIME_MS AS TEXT),
    'not a number of milliseconds'
FROM speech WHERE START_TIME_MS > 9223372036854775807
UNION ALL
SELECT
    'GVP_SPEECH_SESSION', 'SPEECH_SESSION_ID ' || CAST(row_id AS TEXT), 'END_TIME_MS', CAST(END_TIME_MS AS TEXT),
    'not a number of milliseconds'
FROM speech WHERE END_TIME_MS > 9223372036854775807
UNION ALL
SELECT
    'GVP_SPEECH_SESSION', 'SPEECH_SESSION_ID ' || CAST(row_id AS TEXT), 'END_TIME_MS', CAST(END_TIME_MS AS TEXT),
    'ends before it starts (START_TIME_MS ' || CAST(START_TIME_MS AS TEXT) || ')'
FROM speech
WHERE
    END_TIME_MS < START_TIME_MS AND END_TIME_MS < :day_end_ms AND START_TIME_MS > :day_start_ms
    AND START_TIME_MS <= 9223372036854775807
