-- 015: two costs found with pg_stat_statements under the benchmark (16 clients, 20 s, 2 cores).
--
-- 1. The UPDATE inside bump_streams (013) was planned again on every call: plpgsql keeps custom plans for a
--    statement whose generic plan it estimates dearer, and with array parameters it always did (1.8 s of planning
--    in 27,000 transfers, as much as the UPDATE's own execution). The generic plan is the one wanted anyway (a
--    nested loop over unnest with a primary-key probe per stream; checked with EXPLAIN on 5,000 streams), so the
--    function always takes it.
ALTER FUNCTION bump_streams(text[], text[], text[], bigint[], bigint[], bytea[]) SET plan_cache_mode = force_generic_plan;

-- 2. account_statement's tenant was stamped by a plpgsql row trigger (003) that looked the stream up for every posting
--    leg. The projection now reads each account's tenant from its stream once per batch (with its last balance) and
--    writes it, so the trigger only runs for a row inserted without one (the WHEN clause is checked without calling
--    the function).
DROP TRIGGER account_statement_tenant ON account_statement;
CREATE TRIGGER account_statement_tenant BEFORE INSERT ON account_statement
    FOR EACH ROW WHEN (NEW.tenant IS NULL) EXECUTE FUNCTION stamp_statement_tenant();
