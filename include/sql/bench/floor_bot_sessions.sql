-- Floor: the voicebot sessions of the tenant's interactions of the day, up to the day's end
-- plus the look-ahead (a later bot session of an interaction still belongs to its first
-- day): interaction, media, start, duration.
SELECT b.INTERACTION_ID, b.MEDIA_TYPE_KEY, b.START_TS_MS, b.DURATION_MS
FROM SDR_BOTS_FACT b
JOIN INTERACTION_FACT f ON f.MEDIA_SERVER_IXN_GUID = b.INTERACTION_ID
JOIN TENANT t ON t.TENANT_KEY = f.TENANT_KEY
WHERE
    t.TENANT_CFG_DBID = :tenant_id
    AND b.START_DATE_TIME_KEY >= :day_start AND b.START_DATE_TIME_KEY < :lookahead_end
    AND f.START_DATE_TIME_KEY >= :day_start AND f.START_DATE_TIME_KEY < :day_end
