-- Floor: the ASR and TTS sessions of the tenant's calls of the day: kind, component, start, end.
SELECT sp.RESOURCE_TYPE, c.COMPONENT_NAME, sp.START_TIME_MS, sp.END_TIME_MS
FROM GVP_SPEECH_SESSION sp
JOIN GVP_CDR c ON c.CDR_ID = sp.CDR_ID
WHERE
    c.TENANT_ID = :tenant_id
    AND c.START_TIME_MS >= :day_start_ms AND c.START_TIME_MS < :day_end_ms
