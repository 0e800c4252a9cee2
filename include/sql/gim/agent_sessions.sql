-- Agent login sessions (SM_RES_SESSION_FACT, one row per agent and media type) that can
-- touch the billing day, with the switch they are billed on and what the agent handled.
--
-- Parameters (UTC epoch seconds; the same with _ms in milliseconds): :tenant_id (tenant DBID), :day_start, :day_end,
-- :lookback_start (oldest session start considered; also bounds the partition keys).
--
-- switch: the switch of the Agent Login the agent held during the session
--   (GIDB_GCX_LOGIN_INFO -> GIDB_GC_LOGIN -> GIDB_GC_SWITCH); NULL for multimedia
--   sessions, which have no switch and go to the tenant's default location.
-- end_ts: NULL while the session is still open (ACTIVE_FLAG = 1).
-- handled_*: 1 when, between the session's start and the end of the billing day, the
--   agent had an INTERACTION_RESOURCE_FACT of the kind (chat; callback-driven call;
--   Outbound Contact Server call, INTERACTION_SUBTYPE_CODE OUTBOUNDCONTACT).
SELECT DISTINCT
    r.RESOURCE_CFG_DBID AS agent,
    m.MEDIA_NAME_CODE AS media,
    sw.NAME AS switch,
    s.START_TS AS start_ts,
    CASE WHEN s.ACTIVE_FLAG = 1 THEN NULL ELSE s.END_TS END AS end_ts,
    CASE WHEN m.MEDIA_NAME_CODE = 'CHAT' AND EXISTS (
        SELECT 1
        FROM INTERACTION_RESOURCE_FACT irf
        WHERE irf.RESOURCE_KEY = s.RESOURCE_KEY
          AND irf.TENANT_KEY = s.TENANT_KEY
          AND irf.MEDIA_TYPE_KEY = s.MEDIA_TYPE_KEY
          AND irf.START_DATE_TIME_KEY >= :lookback_start AND irf.START_DATE_TIME_KEY < :day_end
          AND irf.START_TS >= s.START_TS AND irf.START_TS < :day_end
          AND (s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL OR irf.START_TS < s.END_TS)
    ) THEN 1 ELSE 0 END AS handled_chat,
    CASE WHEN m.MEDIA_NAME_CODE = 'VOICE' AND EXISTS (
        SELECT 1
        FROM INTERACTION_RESOURCE_FACT irf
        JOIN INTERACTION_TYPE it ON it.INTERACTION_TYPE_KEY = irf.INTERACTION_TYPE_KEY
        WHERE irf.RESOURCE_KEY = s.RESOURCE_KEY
          AND irf.TENANT_KEY = s.TENANT_KEY
          AND irf.MEDIA_TYPE_KEY = s.MEDIA_TYPE_KEY
          AND it.INTERACTION_SUBTYPE_CODE = 'OUTBOUNDCALLBACK'
          AND irf.START_DATE_TIME_KEY >= :lookback_start AND irf.START_DATE_TIME_KEY < :day_end
          AND irf.START_TS >= s.START_TS AND irf.START_TS < :day_end
          AND (s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL OR irf.START_TS < s.END_TS)
    ) THEN 1 ELSE 0 END AS handled_callback,
    CASE WHEN m.MEDIA_NAME_CODE = 'VOICE' AND EXISTS (
        SELECT 1
        FROM INTERACTION_RESOURCE_FACT irf
        JOIN INTERACTION_TYPE it ON it.INTERACTION_TYPE_KEY = irf.INTERACTION_TYPE_KEY
        WHERE irf.RESOURCE_KEY = s.RESOURCE_KEY
          AND irf.TENANT_KEY = s.TENANT_KEY
          AND irf.MEDIA_TYPE_KEY = s.MEDIA_TYPE_KEY
          AND it.INTERACTION_TYPE_CODE = 'OUTBOUND' AND it.INTERACTION_SUBTYPE_CODE = 'OUTBOUNDCONTACT'
          AND irf.START_DATE_TIME_KEY >= :lookback_start AND irf.START_DATE_TIME_KEY < :day_end
          AND irf.START_TS >= s.START_TS AND irf.START_TS < :day_end
          AND (s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL OR irf.START_TS < s.END_TS)
    ) THEN 1 ELSE 0 END AS handled_outbound
FROM SM_RES_SESSION_FACT s
JOIN TENANT t ON t.TENANT_KEY = s.TENANT_KEY
JOIN RESOURCE_ r ON r.RESOURCE_KEY = s.RESOURCE_KEY
JOIN MEDIA_TYPE m ON m.MEDIA_TYPE_KEY = s.MEDIA_TYPE_KEY
LEFT JOIN GIDB_GCX_LOGIN_INFO li
    ON m.MEDIA_NAME_CODE = 'VOICE'
   AND li.AGENTID = r.RESOURCE_CFG_DBID
   AND li.CREATED_TS < COALESCE(CASE WHEN s.ACTIVE_FLAG = 1 THEN NULL ELSE s.END_TS END, :day_end)
   AND (li.DELETED_TS IS NULL OR li.DELETED_TS > s.START_TS)
LEFT JOIN GIDB_GC_LOGIN lg ON lg.ID = li.LOGINID AND lg.TENANTID = t.TENANT_CFG_DBID
LEFT JOIN GIDB_GC_SWITCH sw ON sw.ID = lg.SWITCHID
WHERE t.TENANT_CFG_DBID = :tenant_id
  AND r.RESOURCE_TYPE_CODE = 'AGENT'
  AND s.START_DATE_TIME_KEY >= :lookback_start AND s.START_DATE_TIME_KEY < :day_end
  AND s.START_TS >= :lookback_start AND s.START_TS < :day_end
  AND (s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL OR s.END_TS > :day_start)
