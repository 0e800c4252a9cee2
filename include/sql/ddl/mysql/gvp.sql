-- GVP Reporting Server: call detail records (MySQL and MariaDB).
-- The Reporting Server publishes no table schema. These two tables model its CDRs on the
-- fields of its CDR reports and web services (/ems-rs/HIST/CDRs/MCP/...): call start and
-- end, IVR profile (app-id), tenant (tenant-id), component (comp-id) and the ASR/TTS
-- speech-resource sessions of each call. Point bds_gvp at a database or view with these
-- names and columns (see docs/sources.md). Times are UTC epoch milliseconds.

CREATE TABLE GVP_CDR (
    CDR_ID BIGINT PRIMARY KEY,
    TENANT_ID BIGINT NOT NULL,
    IVR_PROFILE_ID BIGINT,
    COMPONENT_NAME VARCHAR(255) NOT NULL,
    START_TIME_MS BIGINT NOT NULL,
    END_TIME_MS BIGINT
);
CREATE INDEX I_GVP_CDR_TENANT_START ON GVP_CDR (TENANT_ID, START_TIME_MS);

CREATE TABLE GVP_SPEECH_SESSION (
    SPEECH_SESSION_ID BIGINT PRIMARY KEY,
    CDR_ID BIGINT NOT NULL REFERENCES GVP_CDR (CDR_ID),
    RESOURCE_TYPE VARCHAR(255) NOT NULL,
    START_TIME_MS BIGINT NOT NULL,
    END_TIME_MS BIGINT
);
CREATE INDEX I_GVP_SPEECH_SESSION_CDR ON GVP_SPEECH_SESSION (CDR_ID);
