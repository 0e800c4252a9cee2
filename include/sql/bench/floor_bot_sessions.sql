-- Floor: the day's voicebot sessions of the tenant: interaction, media, start, duration.
SELECT b.INTERACTION_ID, b.MEDIA_TYPE_KEY, b.START_TS_MS, b.DURATION_MS
FROM SDR_BOTS_FACT b
JOIN INTERACTION_FACT f ON f.MEDIA_SERVER_IXN_GUID = b.INTERACTION_ID
JOIN TENANT t ON t.TENANT_KEY = f.TENANT_KEY
WHERE t.TENANT_CFG_DBID = :tenant_id
  AND b.START_DATE_TIME_KEY >= :day_start AND b.START_DATE_TIME_KEY < :day_end
  AND f.START_DATE_TIME_KEY >= :day_start AND f.START_DATE_TIME_KEY < :day_end
