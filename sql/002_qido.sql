-- QIDO-RS: indexes for the default result order and the remaining typed matching keys.
-- Portable SQL: runs unchanged on PostgreSQL 15 and on PGlite (PostgreSQL 18).

-- Study results are ordered newest first; this lets "the latest N studies" stop early.
CREATE INDEX study_order_idx ON study (study_date DESC NULLS LAST, study_time DESC NULLS LAST, study_instance_uid);
-- Case-insensitive PN matching, as for patient_name in 001.
CREATE INDEX study_referring_physician_idx ON study (upper(referring_physician_name) text_pattern_ops);
CREATE INDEX study_study_id_idx ON study (study_id);
CREATE INDEX series_body_part_idx ON series (body_part_examined);
