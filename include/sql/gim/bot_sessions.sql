-- Designer bot sessions (SDR_BOTS_FACT) of the tenant's interactions that started before the
-- end of the billing day: every bot session from the look-back start to the day's end plus
-- its look-ahead (lookahead_end: voicebot_lookahead_minutes). An interaction is billed on the
-- day its first bot session started, with all its bot sessions that start before that day's
-- end plus the look-ahead, never split at midnight (see docs/metrics.md,
-- voicebot_interactions). The look-back shows which interactions began on an earlier day.
--
-- SDR_BOTS_FACT carries no tenant: it is tied to the interaction through
-- INTERACTION_FACT.MEDIA_SERVER_IXN_GUID, which carries TENANT_KEY. An interaction starts
-- before its first bot session, so one that starts after the day's end is not this day's.
SELECT
    f.INTERACTION_ID AS interaction_id,
    m.MEDIA_NAME_CODE AS media,
    b.START_TS_MS AS start_ms,
    b.DURATION_MS AS duration_ms
FROM SDR_BOTS_FACT b
JOIN INTERACTION_FACT f ON f.MEDIA_SERVER_IXN_GUID = b.INTERACTION_ID
JOIN TENANT t ON t.TENANT_KEY = f.TENANT_KEY
JOIN MEDIA_TYPE m ON m.MEDIA_TYPE_KEY = b.MEDIA_TYPE_KEY
WHERE
    t.TENANT_CFG_DBID = :tenant_id
    AND b.START_DATE_TIME_KEY >= :lookback_start AND b.START_DATE_TIME_KEY < :lookahead_end
    AND f.START_DATE_TIME_KEY >= :lookback_start AND f.START_DATE_TIME_KEY < :day_end
    AND b.START_TS_MS >= :lookback_start_ms AND b.START_TS_MS < :lookahead_end_ms
    -- never a malformed row (see malformed/bot_sessions.sql): a duration that is negative or
    -- not a number (SQLite compares text above every number)
    AND b.DURATION_MS >= 0 AND b.DURATION_MS <= 9223372036854775807
