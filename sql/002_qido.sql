-- QIDO-RS: counters for the computed attributes, and indexes for ordering and matching.
-- Portable SQL: runs unchanged on PostgreSQL 15 and on PGlite (PostgreSQL 18).

-- Computed attributes (PS3.4 C.3.4) kept on the study and series rows, so that a search
-- reads them with the page of results instead of aggregating over instances per query:
-- NumberOfStudyRelatedSeries/Instances, ModalitiesInStudy, SOPClassesInStudy and
-- NumberOfSeriesRelatedInstances. Triggers keep them exact whoever inserts or deletes rows.
ALTER TABLE study
  ADD COLUMN num_series    integer NOT NULL DEFAULT 0,
  ADD COLUMN num_instances integer NOT NULL DEFAULT 0,
  ADD COLUMN modalities    text[]  NOT NULL DEFAULT '{}',
  ADD COLUMN sop_classes   text[]  NOT NULL DEFAULT '{}';
ALTER TABLE series
  ADD COLUMN num_instances integer NOT NULL DEFAULT 0;

UPDATE study st SET
  num_series    = (SELECT count(*) FROM series s WHERE s.study_instance_uid = st.study_instance_uid),
  num_instances = (SELECT count(*) FROM instance i WHERE i.study_instance_uid = st.study_instance_uid),
  modalities    = coalesce((SELECT array_agg(DISTINCT s.modality) FROM series s
                             WHERE s.study_instance_uid = st.study_instance_uid AND s.modality <> ''), '{}'),
  sop_classes   = coalesce((SELECT array_agg(DISTINCT i.sop_class_uid) FROM instance i
                             WHERE i.study_instance_uid = st.study_instance_uid), '{}');
UPDATE series se SET
  num_instances = (SELECT count(*) FROM instance i WHERE i.series_instance_uid = se.series_instance_uid);

CREATE FUNCTION carpus_series_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE study SET
      num_series = num_series + 1,
      modalities = CASE WHEN NEW.modality IS NULL OR NEW.modality = '' OR NEW.modality = ANY (modalities)
                        THEN modalities ELSE array_append(modalities, NEW.modality) END
    WHERE study_instance_uid = NEW.study_instance_uid;
  ELSE
    UPDATE study SET
      num_series = num_series - 1,
      modalities = coalesce((SELECT array_agg(DISTINCT s.modality) FROM series s
                              WHERE s.study_instance_uid = OLD.study_instance_uid AND s.modality <> ''), '{}')
    WHERE study_instance_uid = OLD.study_instance_uid;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER series_counts AFTER INSERT OR DELETE ON series
  FOR EACH ROW EXECUTE FUNCTION carpus_series_counts();

CREATE FUNCTION carpus_instance_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE study SET
      num_instances = num_instances + 1,
      sop_classes = CASE WHEN NEW.sop_class_uid = ANY (sop_classes)
                         THEN sop_classes ELSE array_append(sop_classes, NEW.sop_class_uid) END
    WHERE study_instance_uid = NEW.study_instance_uid;
    UPDATE series SET num_instances = num_instances + 1 WHERE series_instance_uid = NEW.series_instance_uid;
  ELSE
    UPDATE study SET
      num_instances = num_instances - 1,
      sop_classes = coalesce((SELECT array_agg(DISTINCT i.sop_class_uid) FROM instance i
                               WHERE i.study_instance_uid = OLD.study_instance_uid), '{}')
    WHERE study_instance_uid = OLD.study_instance_uid;
    UPDATE series SET num_instances = num_instances - 1 WHERE series_instance_uid = OLD.series_instance_uid;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER instance_counts AFTER INSERT OR DELETE ON instance
  FOR EACH ROW EXECUTE FUNCTION carpus_instance_counts();

-- Study results are ordered newest first; this lets "the latest N studies" stop early.
CREATE INDEX study_order_idx ON study (study_date DESC NULLS LAST, study_time DESC NULLS LAST, study_instance_uid);
-- Case-insensitive PN matching, as for patient_name in 001.
CREATE INDEX study_referring_physician_idx ON study (upper(referring_physician_name) text_pattern_ops);
CREATE INDEX study_study_id_idx ON study (study_id);
CREATE INDEX series_body_part_idx ON series (body_part_examined);
