-- Auto-analysis: routed instances, bone-age results, the delivery outbox and the audit trail.
-- The job queue itself is pg-boss (its own schema "pgboss", created by pg-boss at start).
-- Portable SQL: runs unchanged on PostgreSQL 15 and on PGlite (PostgreSQL 18).

-- One row per source instance that the routing rules selected: the state the results API shows.
-- status: queued (also while the series settles) / running / done / rejected / failed.
CREATE TABLE analysis_job (
  sop_instance_uid     text PRIMARY KEY,
  study_instance_uid   text NOT NULL,
  series_instance_uid  text NOT NULL,
  accession_number     text,
  status               text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'rejected', 'failed')),
  rule                 text,
  boss_job_id          text,
  attempts             integer NOT NULL DEFAULT 0,
  reason               text,
  result_id            bigint,
  received_at          timestamptz NOT NULL DEFAULT now(),
  queued_at            timestamptz NOT NULL DEFAULT now(),
  started_at           timestamptz,
  finished_at          timestamptz
);
CREATE INDEX analysis_job_study_idx ON analysis_job (study_instance_uid);
CREATE INDEX analysis_job_status_idx ON analysis_job (status);

-- One result per (source instance, model name, model version): the idempotency key.
-- A new model version makes a new row that names the row it supersedes.
CREATE TABLE analysis_result (
  id                        bigserial PRIMARY KEY,
  sop_instance_uid          text NOT NULL,
  study_instance_uid        text NOT NULL,
  model_name                text NOT NULL,
  model_version             text NOT NULL,
  model_sha256              text,
  status                    text NOT NULL CHECK (status IN ('done', 'rejected')),
  reason                    text,
  bone_age_months           double precision,
  chronological_age_months  double precision,
  difference_months         double precision,
  sds                       double precision,
  verdict                   text,
  sex                       text,
  execution_provider        text,
  sr_sop_instance_uid       text,
  sr_series_instance_uid    text,
  sc_sop_instance_uid       text,
  sc_series_instance_uid    text,
  supersedes_id             bigint REFERENCES analysis_result (id),
  timings                   jsonb,
  created_at                timestamptz NOT NULL DEFAULT now(),
  UNIQUE (sop_instance_uid, model_name, model_version)
);
CREATE INDEX analysis_result_study_idx ON analysis_result (study_instance_uid);

-- Objects to STOW to the upstream archive (CARPUS_UPSTREAM_DICOMWEB), delivered strictly in seq order.
-- status: pending / delivered / failed (a permanent refusal by the upstream archive).
CREATE TABLE delivery_outbox (
  seq                  bigserial PRIMARY KEY,
  result_id            bigint REFERENCES analysis_result (id),
  source_sop_instance_uid text,
  study_instance_uid   text NOT NULL,
  sop_instance_uid     text NOT NULL,
  kind                 text NOT NULL,            -- 'sr' or 'sc'
  destination          text NOT NULL,
  status               text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts             integer NOT NULL DEFAULT 0,
  next_attempt_at      timestamptz NOT NULL DEFAULT now(),
  last_error           text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  delivered_at         timestamptz,
  UNIQUE (sop_instance_uid, destination)
);
CREATE INDEX delivery_outbox_pending_idx ON delivery_outbox (status, seq);

-- The audit trail: append-only, one row per event. UIDs and accession numbers only, no other PHI.
CREATE TABLE audit_event (
  id                   bigserial PRIMARY KEY,
  at                   timestamptz NOT NULL DEFAULT now(),
  event                text NOT NULL,
  principal            text,
  study_instance_uid   text,
  series_instance_uid  text,
  sop_instance_uid     text,
  accession_number     text,
  detail               jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_event_study_idx ON audit_event (study_instance_uid, id);
CREATE INDEX audit_event_sop_idx ON audit_event (sop_instance_uid);
CREATE INDEX audit_event_event_idx ON audit_event (event, at);
CREATE INDEX audit_event_at_idx ON audit_event (at);

-- Append-only for everyone, owner included (REVOKE does not bind a table's owner; a trigger does).
CREATE FUNCTION carpus_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_event
  FOR EACH STATEMENT EXECUTE FUNCTION carpus_audit_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM PUBLIC;

-- A study's timeline: every audited event of the study, in order.
CREATE VIEW audit_study_timeline AS
  SELECT study_instance_uid, id, at, event, principal, series_instance_uid, sop_instance_uid, accession_number, detail
  FROM audit_event
  WHERE study_instance_uid IS NOT NULL;

-- Turnaround per source instance: received → results stored in carpus → delivered upstream.
CREATE VIEW analysis_turnaround AS
  SELECT j.sop_instance_uid,
         j.study_instance_uid,
         j.received_at,
         r.created_at AS stored_at,
         d.delivered_at,
         extract(epoch FROM (r.created_at - j.received_at)) AS stored_seconds,
         extract(epoch FROM (d.delivered_at - j.received_at)) AS delivered_seconds
  FROM analysis_job j
  JOIN analysis_result r ON r.id = j.result_id
  LEFT JOIN (
    SELECT result_id, max(delivered_at) AS delivered_at
    FROM delivery_outbox
    GROUP BY result_id
    HAVING bool_and(status = 'delivered')
  ) d ON d.result_id = r.id
  WHERE r.status = 'done';

-- Turnaround times per day (UTC) of reception.
CREATE VIEW analysis_turnaround_daily AS
  SELECT date_trunc('day', received_at AT TIME ZONE 'UTC')::date AS day,
         count(*) AS results,
         count(delivered_at) AS delivered,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY stored_seconds) AS p50_stored_seconds,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY stored_seconds) AS p95_stored_seconds,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY delivered_seconds) AS p50_delivered_seconds,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY delivered_seconds) AS p95_delivered_seconds,
         max(delivered_seconds) AS max_delivered_seconds
  FROM analysis_turnaround
  GROUP BY 1;

-- Results per model version.
CREATE VIEW analysis_results_by_model AS
  SELECT model_name, model_version,
         count(*) AS results,
         count(*) FILTER (WHERE status = 'done') AS done,
         count(*) FILTER (WHERE status = 'rejected') AS rejected,
         count(supersedes_id) AS superseding,
         avg(bone_age_months) AS mean_bone_age_months,
         min(created_at) AS first_at,
         max(created_at) AS last_at
  FROM analysis_result
  GROUP BY model_name, model_version;

-- Deliveries still pending or refused by the upstream archive.
CREATE VIEW delivery_pending_or_failed AS
  SELECT seq, status, destination, study_instance_uid, sop_instance_uid, kind, attempts,
         next_attempt_at, last_error, created_at, now() - created_at AS waiting
  FROM delivery_outbox
  WHERE status IN ('pending', 'failed');
