-- Agent login sessions (SM_RES_SESSION_FACT, one row per agent and media type) that touch
-- the billing day, whatever their age, with the switch they are billed on and what the
-- agent handled.
--
-- Parameters (UTC epoch seconds): tenant_id (tenant DBID), day_start, day_end, and
-- lookback_start (sessions that started since then are read from the partitions of those
-- days).
--
-- Which sessions: every session of one of the tenant's agents that started before the end
-- of the day and is still open or ended after the day began. Two paths reach them. Sessions that
-- started within the look-back come from the partitions of those days (START_DATE_TIME_KEY).
-- Older ones, few (an agent logged in for days), come from the older partitions through the
-- index on END_DATE_TIME_KEY (a session that ended after the day began has an end key past
-- the day's start less one interval; Info Mart gives an open one a future key) and, for an
-- open session whatever its end key, the index of open sessions (ACTIVE_FLAG = 1 or no END_TS).
-- agent: the Person (RESOURCE_CFG_DBID) behind the session's RESOURCE_ row; a Person may
--   have several such rows and counts once.
-- switch: the switch of each Agent Login of the tenant the agent held at some time during
--   the part of the session inside the day (GIDB_GCX_LOGIN_INFO -> GIDB_GC_LOGIN ->
--   GIDB_GC_SWITCH): one row per switch; NULL for multimedia sessions, which have no switch,
--   and for a voice session with no such login. What happens after the day never changes it.
-- end_ts: NULL while the session is still open (ACTIVE_FLAG = 1).
-- handled_*: 1 when the Person, under any of its agent RESOURCE_ rows, had an
--   INTERACTION_RESOURCE_FACT of the kind on the session's media between the session's
--   start and the earlier of its end and the end of the billing day: a chat; a callback call
--   (INTERACTION_SUBTYPE_CODE OUTBOUNDCALLBACK); an Outbound Contact Server call
--   (OUTBOUND / OUTBOUNDCONTACT). Each flag is an EXISTS probe of the Person's rows
--   (RESOURCE_ (RESOURCE_CFG_DBID)) and of the index (RESOURCE_KEY, START_DATE_TIME_KEY) that
--   stops at the first match; the probe's key range is the session's own 15-minute intervals
--   (a fact starting at or after the session's start has a key of at least the session's
--   start minus 899 seconds), so only the partitions of the session's days are read.
WITH touching AS (
    SELECT s.TENANT_KEY, s.RESOURCE_KEY, s.MEDIA_TYPE_KEY, s.START_TS, s.END_TS, s.ACTIVE_FLAG
    FROM SM_RES_SESSION_FACT s
    WHERE
        s.TENANT_KEY IN (SELECT TENANT_KEY FROM TENANT WHERE TENANT_CFG_DBID = :tenant_id)
        AND s.START_DATE_TIME_KEY >= :lookback_start AND s.START_DATE_TIME_KEY < :day_end
    UNION ALL
    SELECT s.TENANT_KEY, s.RESOURCE_KEY, s.MEDIA_TYPE_KEY, s.START_TS, s.END_TS, s.ACTIVE_FLAG
    FROM SM_RES_SESSION_FACT s
    WHERE
        s.TENANT_KEY IN (SELECT TENANT_KEY FROM TENANT WHERE TENANT_CFG_DBID = :tenant_id)
        AND s.START_DATE_TIME_KEY < :lookback_start
        AND (s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL OR s.END_DATE_TIME_KEY > :day_start - 900)
),

sessions AS (
    SELECT
        s.TENANT_KEY,
        s.MEDIA_TYPE_KEY,
        t.TENANT_CFG_DBID,
        r.RESOURCE_CFG_DBID AS agent,
        m.MEDIA_NAME_CODE AS media,
        s.START_TS AS start_ts,
        CASE WHEN s.ACTIVE_FLAG = 1 THEN NULL ELSE s.END_TS END AS end_ts,
        CASE
            WHEN s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL OR s.END_TS > :day_end THEN :day_end
            ELSE s.END_TS
        END AS end_in_day
    FROM touching s
    JOIN TENANT t ON t.TENANT_KEY = s.TENANT_KEY
    JOIN RESOURCE_ r ON r.RESOURCE_KEY = s.RESOURCE_KEY
    JOIN MEDIA_TYPE m ON m.MEDIA_TYPE_KEY = s.MEDIA_TYPE_KEY
    WHERE
        r.RESOURCE_TYPE_CODE = 'AGENT' AND r.TENANT_KEY = s.TENANT_KEY
        AND s.START_TS < :day_end
        AND (s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL OR s.END_TS > :day_start)
        -- never a malformed row (see malformed/agent_sessions.sql): an end that is not a number
        -- (SQLite compares text above every number) or before the start
        AND (s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL OR s.END_TS >= s.START_TS AND s.END_TS <= 9223372036854775807)
),

flagged AS (
    SELECT
        s.*,
        CASE WHEN s.media = 'CHAT' AND EXISTS (
            SELECT 1 FROM RESOURCE_ p JOIN INTERACTION_RESOURCE_FACT irf ON irf.RESOURCE_KEY = p.RESOURCE_KEY
            WHERE
                p.RESOURCE_CFG_DBID = s.agent AND p.TENANT_KEY = s.TENANT_KEY AND p.RESOURCE_TYPE_CODE = 'AGENT'
                AND irf.START_DATE_TIME_KEY < :day_end
                AND irf.START_DATE_TIME_KEY > s.start_ts - 900 AND irf.START_DATE_TIME_KEY < s.end_in_day
                AND irf.START_TS >= s.start_ts AND irf.START_TS < s.end_in_day
                AND irf.TENANT_KEY = s.TENANT_KEY AND irf.MEDIA_TYPE_KEY = s.MEDIA_TYPE_KEY
        ) THEN 1 ELSE 0 END AS handled_chat,
        CASE WHEN s.media = 'VOICE' AND EXISTS (
            SELECT 1 FROM RESOURCE_ p JOIN INTERACTION_RESOURCE_FACT irf ON irf.RESOURCE_KEY = p.RESOURCE_KEY
            JOIN INTERACTION_TYPE it ON it.INTERACTION_TYPE_KEY = irf.INTERACTION_TYPE_KEY
            WHERE
                p.RESOURCE_CFG_DBID = s.agent AND p.TENANT_KEY = s.TENANT_KEY AND p.RESOURCE_TYPE_CODE = 'AGENT'
                AND irf.START_DATE_TIME_KEY < :day_end
                AND irf.START_DATE_TIME_KEY > s.start_ts - 900 AND irf.START_DATE_TIME_KEY < s.end_in_day
                AND irf.START_TS >= s.start_ts AND irf.START_TS < s.end_in_day
                AND irf.TENANT_KEY = s.TENANT_KEY AND irf.MEDIA_TYPE_KEY = s.MEDIA_TYPE_KEY
                AND it.INTERACTION_SUBTYPE_CODE = 'OUTBOUNDCALLBACK'
        ) THEN 1 ELSE 0 END AS handled_callback,
        CASE WHEN s.media = 'VOICE' AND EXISTS (
            SELECT 1 FROM RESOURCE_ p JOIN INTERACTION_RESOURCE_FACT irf ON irf.RESOURCE_KEY = p.RESOURCE_KEY
            JOIN INTERACTION_TYPE it ON it.INTERACTION_TYPE_KEY = irf.INTERACTION_TYPE_KEY
            WHERE
                p.RESOURCE_CFG_DBID = s.agent AND p.TENANT_KEY = s.TENANT_KEY AND p.RESOURCE_TYPE_CODE = 'AGENT'
                AND irf.START_DATE_TIME_KEY < :day_end
                AND irf.START_DATE_TIME_KEY > s.start_ts - 900 AND irf.START_DATE_TIME_KEY < s.end_in_day
                AND irf.START_TS >= s.start_ts AND irf.START_TS < s.end_in_day
                AND irf.TENANT_KEY = s.TENANT_KEY AND irf.MEDIA_TYPE_KEY = s.MEDIA_TYPE_KEY
                AND it.INTERACTION_TYPE_CODE = 'OUTBOUND' AND it.INTERACTION_SUBTYPE_CODE = 'OUTBOUNDCONTACT'
        ) THEN 1 ELSE 0 END AS handled_outbound
    FROM sessions s
)

SELECT DISTINCT
    s.agent,
    s.media,
    sw.NAME AS switch,
    s.start_ts,
    s.end_ts,
    s.handled_chat,
    s.handled_callback,
    s.handled_outbound
FROM flagged s
-- A login, its tenant's Agent Login and its switch together, or nothing: a login of no switch
-- of the tenant leaves no NULL row that would bill the session in the default location too.
LEFT JOIN (
    GIDB_GCX_LOGIN_INFO li
    JOIN GIDB_GC_LOGIN lg ON lg.ID = li.LOGINID
    JOIN GIDB_GC_SWITCH sw ON sw.ID = lg.SWITCHID
)
    ON
        s.media = 'VOICE'
        AND li.AGENTID = s.agent
        AND lg.TENANTID = s.TENANT_CFG_DBID
        AND li.CREATED_TS < s.end_in_day
        -- never a malformed row (malformed/agent_sessions.sql): a deletion that is not a number
        AND (
            li.DELETED_TS IS NULL OR li.DELETED_TS > s.start_ts AND li.DELETED_TS > :day_start
            AND li.DELETED_TS <= 9223372036854775807
        )
