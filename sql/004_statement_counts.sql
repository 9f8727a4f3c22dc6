-- QIDO computed-attribute counters (002) kept by statement-level triggers.
-- Portable SQL: runs unchanged on PostgreSQL 15 and on PGlite (PostgreSQL 18).
--
-- 002's row-level triggers updated the study row once per inserted instance: a STOW group of
-- 32 instances of one study left 32 dead versions of that row (PGlite has no autovacuum, so
-- they stayed). These triggers see all rows of one INSERT or DELETE statement in a transition
-- table and update each study and series row once per statement, with the same results:
-- counts, and ModalitiesInStudy / SOPClassesInStudy as sorted sets without empty values.
-- A trigger with transition tables may have only one event, hence one trigger per event.

DROP TRIGGER series_counts ON series;
DROP TRIGGER instance_counts ON instance;
DROP FUNCTION carpus_series_counts();
DROP FUNCTION carpus_instance_counts();

-- The existing arrays in the order the new triggers keep (sorted).
UPDATE study SET
  modalities  = ARRAY(SELECT DISTINCT m FROM unnest(modalities) m ORDER BY m),
  sop_classes = ARRAY(SELECT DISTINCT c FROM unnest(sop_classes) c ORDER BY c);

CREATE FUNCTION carpus_series_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE study st SET
    num_series = st.num_series + n.n,
    modalities = ARRAY(SELECT DISTINCT m FROM unnest(st.modalities || n.modalities) m ORDER BY m)
  FROM (SELECT study_instance_uid, count(*)::int AS n,
               coalesce(array_agg(DISTINCT modality) FILTER (WHERE modality <> ''), '{}') AS modalities
          FROM new_series GROUP BY study_instance_uid) n
  WHERE st.study_instance_uid = n.study_instance_uid;
  RETURN NULL;
END
$$;
CREATE TRIGGER series_counts_insert AFTER INSERT ON series
  REFERENCING NEW TABLE AS new_series
  FOR EACH STATEMENT EXECUTE FUNCTION carpus_series_inserted();

CREATE FUNCTION carpus_series_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE study st SET
    num_series = st.num_series - o.n,
    modalities = coalesce((SELECT array_agg(DISTINCT s.modality ORDER BY s.modality) FROM series s
                            WHERE s.study_instance_uid = st.study_instance_uid AND s.modality <> ''), '{}')
  FROM (SELECT study_instance_uid, count(*)::int AS n FROM old_series GROUP BY study_instance_uid) o
  WHERE st.study_instance_uid = o.study_instance_uid;
  RETURN NULL;
END
$$;
CREATE TRIGGER series_counts_delete AFTER DELETE ON series
  REFERENCING OLD TABLE AS old_series
  FOR EACH STATEMENT EXECUTE FUNCTION carpus_series_deleted();

CREATE FUNCTION carpus_instances_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE study st SET
    num_instances = st.num_instances + n.n,
    sop_classes = ARRAY(SELECT DISTINCT c FROM unnest(st.sop_classes || n.classes) c ORDER BY c)
  FROM (SELECT study_instance_uid, count(*)::int AS n, array_agg(DISTINCT sop_class_uid) AS classes
          FROM new_instances GROUP BY study_instance_uid) n
  WHERE st.study_instance_uid = n.study_instance_uid;
  UPDATE series se SET num_instances = se.num_instances + n.n
  FROM (SELECT series_instance_uid, count(*)::int AS n FROM new_instances GROUP BY series_instance_uid) n
  WHERE se.series_instance_uid = n.series_instance_uid;
  RETURN NULL;
END
$$;
CREATE TRIGGER instance_counts_insert AFTER INSERT ON instance
  REFERENCING NEW TABLE AS new_instances
  FOR EACH STATEMENT EXECUTE FUNCTION carpus_instances_inserted();

CREATE FUNCTION carpus_instances_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE study st SET
    num_instances = st.num_instances - o.n,
    sop_classes = coalesce((SELECT array_agg(DISTINCT i.sop_class_uid ORDER BY i.sop_class_uid) FROM instance i
                             WHERE i.study_instance_uid = st.study_instance_uid), '{}')
  FROM (SELECT study_instance_uid, count(*)::int AS n FROM old_instances GROUP BY study_instance_uid) o
  WHERE st.study_instance_uid = o.study_instance_uid;
  UPDATE series se SET num_instances = se.num_instances - o.n
  FROM (SELECT series_instance_uid, count(*)::int AS n FROM old_instances GROUP BY series_instance_uid) o
  WHERE se.series_instance_uid = o.series_instance_uid;
  RETURN NULL;
END
$$;
CREATE TRIGGER instance_counts_delete AFTER DELETE ON instance
  REFERENCING OLD TABLE AS old_instances
  FOR EACH STATEMENT EXECUTE FUNCTION carpus_instances_deleted();
