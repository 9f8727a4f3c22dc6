-- carpus archive index: one row per study, series and instance.
-- The DICOM files themselves live under CARPUS_DATA_DIR/objects, named by SHA-256;
-- this index is what QIDO-RS searches and WADO-RS resolves.
-- Portable SQL: runs unchanged on PostgreSQL 15 and on PGlite (PostgreSQL 18).

CREATE TABLE study (
  study_instance_uid       text PRIMARY KEY,
  patient_id               text,
  patient_name             text,          -- PN as in DICOM JSON "Alphabetic"
  patient_birth_date       text,          -- DA, YYYYMMDD
  patient_sex              text,
  study_date               text,          -- DA, YYYYMMDD
  study_time               text,          -- TM
  accession_number         text,
  study_id                 text,
  referring_physician_name text,
  study_description        text,
  -- Patient and study module attributes of the first instance, DICOM JSON.
  attributes               jsonb NOT NULL,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX study_patient_id_idx ON study (patient_id);
CREATE INDEX study_patient_name_idx ON study (upper(patient_name) text_pattern_ops);
CREATE INDEX study_date_idx ON study (study_date);
CREATE INDEX study_accession_idx ON study (accession_number);

CREATE TABLE series (
  series_instance_uid  text PRIMARY KEY,
  study_instance_uid   text NOT NULL REFERENCES study (study_instance_uid),
  modality             text,
  series_number        integer,
  series_description   text,
  body_part_examined   text,
  performed_procedure_step_start_date text,
  attributes           jsonb NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX series_study_idx ON series (study_instance_uid);
CREATE INDEX series_modality_idx ON series (modality);

CREATE TABLE instance (
  sop_instance_uid     text PRIMARY KEY,
  series_instance_uid  text NOT NULL REFERENCES series (series_instance_uid),
  study_instance_uid   text NOT NULL REFERENCES study (study_instance_uid),
  sop_class_uid        text NOT NULL,
  instance_number      integer,
  transfer_syntax_uid  text NOT NULL,
  number_of_frames     integer,
  rows                 integer,
  columns              integer,
  size_bytes           bigint NOT NULL,
  sha256               text NOT NULL,
  storage_path         text NOT NULL,  -- relative to CARPUS_DATA_DIR
  -- Full DICOM JSON of the instance; large binary values as relative BulkDataURIs.
  metadata             jsonb NOT NULL,
  received_from        text,
  received_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instance_series_idx ON instance (series_instance_uid);
CREATE INDEX instance_study_idx ON instance (study_instance_uid);
CREATE INDEX instance_sop_class_idx ON instance (sop_class_uid);

-- An instance that arrived with a known SOPInstanceUID but different bytes.
-- The stored instance is never overwritten; the new bytes are kept in quarantine.
CREATE TABLE store_conflict (
  id                    bigserial PRIMARY KEY,
  sop_instance_uid      text NOT NULL,
  stored_sha256         text NOT NULL,
  received_sha256       text NOT NULL,
  quarantine_path       text NOT NULL,
  received_from         text,
  received_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX store_conflict_sop_idx ON store_conflict (sop_instance_uid);
