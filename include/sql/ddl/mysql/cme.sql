-- Configuration objects as Interaction Concentrator records them (MySQL and MariaDB): exactly
-- the tables and columns bds reads. Names follow the Interaction Concentrator physical
-- data model; Info Mart's GIDB_GC_* copies have the same columns. *_TS columns are UTC
-- epoch seconds; DELETED_TS is NULL while the object exists. Object state (enabled or
-- disabled) is not read: a disabled object's mailbox still counts.

CREATE TABLE GC_ENDPOINT (
    ID BIGINT PRIMARY KEY,
    TENANTID BIGINT NOT NULL,
    CREATED_TS BIGINT NOT NULL,
    DELETED_TS BIGINT
);

CREATE TABLE GC_LOGIN (
    ID BIGINT PRIMARY KEY,
    TENANTID BIGINT NOT NULL,
    CREATED_TS BIGINT NOT NULL,
    DELETED_TS BIGINT
);

CREATE TABLE GC_GROUP (
    ID BIGINT PRIMARY KEY,
    TENANTID BIGINT NOT NULL,
    TYPE BIGINT NOT NULL,
    CREATED_TS BIGINT NOT NULL,
    DELETED_TS BIGINT
);

CREATE TABLE GC_ANNEX (
    ID BIGINT PRIMARY KEY,
    CFGOBJECTID BIGINT NOT NULL,
    CFGOBJECTTYPE BIGINT NOT NULL,
    SECTIONNAME VARCHAR(255) NOT NULL,
    KEYNAME VARCHAR(255) NOT NULL,
    VALUE VARCHAR(255),
    TENANTID BIGINT NOT NULL,
    CREATED_TS BIGINT NOT NULL,
    DELETED_TS BIGINT
);
CREATE INDEX I_GC_ANNEX_TENANT_KEY ON GC_ANNEX (TENANTID, KEYNAME, SECTIONNAME);
