-- Fallback load status, for an Info Mart without CTL_AUDIT_LOG: the newest start time of
-- an agent login session or interaction fact. Bounded by the partition key, from the start
-- of the billing day on.
--
-- Parameters (UTC epoch seconds): day_start.
SELECT MAX(latest) AS loaded_until FROM (
    SELECT MAX(START_TS) AS latest FROM SM_RES_SESSION_FACT WHERE START_DATE_TIME_KEY >= :day_start
    UNION ALL
    SELECT MAX(START_TS) AS latest FROM INTERACTION_RESOURCE_FACT WHERE START_DATE_TIME_KEY >= :day_start
) high_water_marks
