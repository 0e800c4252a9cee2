-- Info Mart's own load status: the newest source time stamp its ETL has committed
-- (CTL_AUDIT_LOG.MAX_CHUNK_TS, UTC epoch seconds). Only audit rows created since the
-- billing day began can carry data past its end, so the scan is bounded by CREATED_TS.
--
-- Parameters (UTC epoch seconds): day_start.
SELECT MAX(MAX_CHUNK_TS) AS loaded_until
FROM CTL_AUDIT_LOG
WHERE CREATED_TS >= :day_start
