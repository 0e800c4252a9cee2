-- Floor: the tenant's mailbox options: object, type, value, configured from and until.
SELECT a.CFGOBJECTID, a.CFGOBJECTTYPE, a.VALUE, a.CREATED_TS, a.DELETED_TS
FROM GC_ANNEX a
WHERE
    a.TENANTID = :tenant_id AND a.KEYNAME = 'gvm_mailbox' AND a.SECTIONNAME = 'TServer'
    AND a.CREATED_TS < :day_end AND (a.DELETED_TS IS NULL OR a.DELETED_TS > :day_start)
