-- Floor: the login sessions of the tenant that touch the day, with only the columns the seat
-- metrics need (who, which media, from when to when): those that started within the look-back
-- by the (TENANT_KEY, START_DATE_TIME_KEY) index, and older ones still open or ended in the day
-- by the indexes of open and recently ended sessions.
SELECT s.RESOURCE_KEY, s.MEDIA_TYPE_KEY, s.START_TS, s.END_TS, s.ACTIVE_FLAG
FROM SM_RES_SESSION_FACT s
JOIN TENANT t ON t.TENANT_KEY = s.TENANT_KEY
WHERE
    t.TENANT_CFG_DBID = :tenant_id
    AND s.START_DATE_TIME_KEY >= :lookback_start AND s.START_DATE_TIME_KEY < :day_end
    AND (s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL OR s.END_TS > :day_start)
UNION ALL
SELECT s.RESOURCE_KEY, s.MEDIA_TYPE_KEY, s.START_TS, s.END_TS, s.ACTIVE_FLAG
FROM SM_RES_SESSION_FACT s
JOIN TENANT t ON t.TENANT_KEY = s.TENANT_KEY
WHERE
    t.TENANT_CFG_DBID = :tenant_id
    AND s.START_DATE_TIME_KEY < :lookback_start
    AND (s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL OR s.END_DATE_TIME_KEY > :day_start - 900)
    AND (s.ACTIVE_FLAG = 1 OR s.END_TS IS NULL OR s.END_TS > :day_start)
