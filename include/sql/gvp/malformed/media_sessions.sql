-- Malformed rows of GVP_CDR and GVP_SPEECH_SESSION that gvp/media_sessions reads for the
-- billing day (the tenant's calls that started since lookback_start and before the day's
-- end, and their ASR/TTS sessions), one row per problem; see
-- include/sql/gim/malformed/agent_sessions.sql for how a value that is not a number is
-- found, and for :typeless. A call whose start is not a number cannot be placed in any day:
-- every day reports it. An end before the start is reported by every day between the two.
--
-- Each row also says the component of its call: a tenant whose locations record on several
-- Reporting Servers is told only of the rows of the components a server is billed from.
--
-- The speech sessions are read once, and only those with a problem are looked up among the
-- tenant's calls: a join of every session to every call would cost more than the dataset
-- query itself. The lookup sits in a CASE so that PostgreSQL runs it per problem row rather
-- than hashing the tenant's calls up front.
WITH speech AS (
    SELECT sp.SPEECH_SESSION_ID AS row_id, sp.CDR_ID, sp.START_TIME_MS, sp.END_TIME_MS
    FROM GVP_SPEECH_SESSION sp
    WHERE
        -- the numeric tests first: they turn away almost every row before the text comparison
        (
            sp.START_TIME_MS IS NULL OR sp.START_TIME_MS > 9223372036854775807
            OR sp.START_TIME_MS >= :lookback_start_ms AND sp.START_TIME_MS < :day_end_ms
            AND (
                sp.END_TIME_MS > 9223372036854775807
                OR sp.END_TIME_MS < sp.START_TIME_MS AND sp.END_TIME_MS < :day_end_ms AND sp.START_TIME_MS > :day_start_ms
            )
        )
        AND sp.RESOURCE_TYPE IN ('ASR', 'TTS')
),

tenant_speech AS (
    SELECT
        row_id, START_TIME_MS, END_TIME_MS,
        (SELECT MIN(c.COMPONENT_NAME) FROM GVP_CDR c WHERE c.CDR_ID = s.CDR_ID AND c.TENANT_ID = :tenant_id) AS component
    FROM speech s
    WHERE
        CASE WHEN EXISTS (
            SELECT 1 FROM GVP_CDR c
            WHERE
                c.CDR_ID = s.CDR_ID AND c.TENANT_ID = :tenant_id
                AND (
                    c.START_TIME_MS >= :lookback_start_ms AND c.START_TIME_MS < :day_end_ms
                    OR c.START_TIME_MS > 9223372036854775807
                )
        ) THEN 1 ELSE 0 END = 1
)

SELECT
    'GVP_CDR' AS source_table, 'CDR_ID ' || CAST(c.CDR_ID AS VARCHAR(255)) AS row_key,
    'START_TIME_MS' AS column_name, CAST(c.START_TIME_MS AS VARCHAR(255)) AS found, 'not a number of milliseconds' AS problem,
    c.COMPONENT_NAME AS component
FROM GVP_CDR c WHERE :typeless = 1 AND c.TENANT_ID = :tenant_id AND c.START_TIME_MS > 9223372036854775807
UNION ALL
SELECT 'GVP_SPEECH_SESSION', 'SPEECH_SESSION_ID ' || CAST(row_id AS VARCHAR(255)), 'START_TIME_MS', NULL, 'missing', component
FROM tenant_speech WHERE START_TIME_MS IS NULL
UNION ALL
SELECT
    'GVP_SPEECH_SESSION', 'SPEECH_SESSION_ID ' || CAST(row_id AS VARCHAR(255)), 'START_TIME_MS',
    CAST(START_TIME_MS AS VARCHAR(255)), 'not a number of milliseconds', component
FROM tenant_speech WHERE START_TIME_MS > 9223372036854775807
UNION ALL
SELECT
    'GVP_SPEECH_SESSION', 'SPEECH_SESSION_ID ' || CAST(row_id AS VARCHAR(255)), 'END_TIME_MS', CAST(END_TIME_MS AS VARCHAR(255)),
    'not a number of milliseconds', component
FROM tenant_speech WHERE END_TIME_MS > 9223372036854775807
UNION ALL
SELECT
    'GVP_SPEECH_SESSION', 'SPEECH_SESSION_ID ' || CAST(row_id AS VARCHAR(255)), 'END_TIME_MS', CAST(END_TIME_MS AS VARCHAR(255)),
    'ends before it starts (START_TIME_MS ' || CAST(START_TIME_MS AS VARCHAR(255)) || ')', component
FROM tenant_speech
WHERE
    END_TIME_MS < START_TIME_MS AND END_TIME_MS < :day_end_ms AND START_TIME_MS > :day_start_ms
    AND START_TIME_MS <= 9223372036854775807
