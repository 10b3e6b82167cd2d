-- The application role's rights on the gateway's tables. Run as the owner role after every
-- `gateway db upgrade` (a migration may add tables), and after a restore:
--
--   psql -v app=gateway_app -f grants.sql "postgresql://gateway_owner@db.internal/gateway"
--
-- Idempotent. The audit log is append-only for the app: it may read and add entries (and move
-- the chain's head), never change or remove one; tests/test_deploy_postgres.py tries.
\set ON_ERROR_STOP on

GRANT USAGE ON SCHEMA public TO :"app";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
-- Tables a later migration adds are usable at once, even before this file runs again.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"app";

-- Append-only: the hash-chained entries and their timestamp anchors.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_entries, audit_anchors FROM :"app";
-- The schema version is the migrations' (the owner's) business.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM :"app";
