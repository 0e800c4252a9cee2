-- Floor: the tenant's interaction facts of the day (what agents handled), four columns.
SELECT irf.RESOURCE_KEY, irf.MEDIA_TYPE_KEY, irf.INTERACTION_TYPE_KEY, irf.START_TS
FROM INTERACTION_RESOURCE_FACT irf
JOIN TENANT t ON t.TENANT_KEY = irf.TENANT_KEY
WHERE
    t.TENANT_CFG_DBID = :tenant_id
    AND irf.START_DATE_TIME_KEY >= :day_start AND irf.START_DATE_TIME_KEY < :day_end
