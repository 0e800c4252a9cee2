-- ASR and TTS sessions (MRCP speech resources) of the tenant's GVP calls that touch the
-- billing day, with the Media Control Platform component that served them.
--
-- The GVP Reporting Server publishes no table schema; GVP_CDR and GVP_SPEECH_SESSION
-- model its call detail records on the fields of its CDR reports (call start and end,
-- IVR profile, tenant, component, ASR/TTS usage). See docs/sources.md.
-- Times are UTC epoch milliseconds; a session still running has a NULL end.
SELECT
    sp.RESOURCE_TYPE AS resource,
    c.COMPONENT_NAME AS component,
    sp.START_TIME_MS AS start_ms,
    sp.END_TIME_MS AS end_ms
FROM GVP_SPEECH_SESSION sp
JOIN GVP_CDR c ON c.CDR_ID = sp.CDR_ID
WHERE
    c.TENANT_ID = :tenant_id
    AND sp.RESOURCE_TYPE IN ('ASR', 'TTS')
    AND c.START_TIME_MS >= :lookback_start_ms AND c.START_TIME_MS < :day_end_ms
    -- a speech session starts within its call: this bound lets the day's partitions be chosen
    AND sp.START_TIME_MS >= :lookback_start_ms AND sp.START_TIME_MS < :day_end_ms
    AND (sp.END_TIME_MS IS NULL OR sp.END_TIME_MS > :day_start_ms)
    -- never a malformed row (see malformed/media_sessions.sql): an end that is not a number
    -- (SQLite compares text above every number) or before the start
    AND (sp.END_TIME_MS IS NULL OR sp.END_TIME_MS >= sp.START_TIME_MS AND sp.END_TIME_MS <= 9223372036854775807)
