-- The gateway's PostgreSQL roles and database, with least privilege. Run once, as a superuser:
--
--   psql -v owner=gateway_owner -v app=gateway_app -v db=gateway -f roles.sql postgres
--
-- owner  owns the schema: runs `gateway db upgrade` (migrations) and grants.sql, and takes
--        backups. Nothing runs as it day to day.
-- app    what the web, worker, smtp and ap processes log in as: reads and writes the tables,
--        but may not change the schema, and may only append to the audit log (grants.sql).
-- Neither may create roles or databases, replicate, or bypass row security. Passwords (or peer
-- or certificate authentication) are set separately: \password gateway_app
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
ALTER ROLE :"owner" NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE :"app" NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;

SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'db', :'owner', 'UTF8')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app";

\connect :"db"
-- Only the owner creates objects; the app may use what is there.
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
